// A minimal Pulumi language host for Go programs.
//
// Pulumi's own host (module github.com/pulumi/pulumi/sdk/go/pulumi-language-go/v3) is not
// served by the Go module proxy reachable from our machines. This host implements the part
// of the LanguageRuntime protocol that `pulumi preview/up/refresh/destroy/import` and
// `pulumi install` use, as Pulumi's host does: Run builds the program (`go build`) or runs
// the `binary` runtime option, with the PULUMI_* environment the Go SDK reads;
// GetRequiredPackages reports the resource plugins of the modules go.mod requires, from
// their pulumi-plugin.json, so the engine can download them. Code generation and
// plugin running are left unimplemented.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blang/semver"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is set at build time to the Pulumi version this host ships with.
var version = "dev"

// The Go SDK exits with this code once it has logged an error to the engine: the engine
// must then bail out quietly.
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	// Done once the engine stops answering: the build or program it ran is stopped with the host.
	engineGone context.Context
}

func main() {
	// The engine passes flags (-root, -tracing, ...) before the engine address.
	var positional []string
	for _, arg := range os.Args[1:] {
		if len(arg) > 0 && arg[0] != '-' {
			positional = append(positional, arg)
		}
	}
	if len(positional) == 0 {
		fmt.Fprintln(os.Stderr, "pulumi-language-go: missing the engine address argument")
		os.Exit(1)
	}
	h := &host{engineAddress: positional[len(positional)-1]}
	// As in our Python host: ask for SIGINT (a parent that ignores it passes that on), and
	// stop with a killed engine, which sends no signal.
	stop, unregister := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	gone, engineGone := context.WithCancel(context.Background())
	if err := rpcutil.Healthcheck(gone, h.engineAddress, time.Second, engineGone); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-go: %v\n", err)
		os.Exit(1)
	}
	h.engineGone = gone
	cancel := make(chan bool)
	go func() {
		select {
		case <-stop.Done():
		case <-gone.Done():
		}
		unregister()
		close(cancel)
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-go: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from our first line
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-go: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(context.Context, *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// withEngine is ctx, also cancelled once the engine is gone.
func (h *host) withEngine(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-h.engineGone.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func programDir(info *pulumirpc.ProgramInfo, pwd string) string {
	if dir := info.GetProgramDirectory(); dir != "" {
		return dir
	}
	return pwd
}

// goCommand runs `go args...` in dir and returns its stdout; stderr goes into the error.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	// Only the one module of the program, not a workspace around it (as Pulumi's host).
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// loadGoMod finds and parses the go.mod of the program (it may sit in a parent folder).
func loadGoMod(ctx context.Context, dir string) (string, *modfile.File, error) {
	out, err := goCommand(ctx, dir, "list", "-m", "-f", "{{.GoMod}}")
	if err != nil {
		return "", nil, err
	}
	path := string(bytes.TrimSpace(out))
	if path == "" {
		return "", nil, fmt.Errorf("no go.mod file found for %s", dir)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	file, err := modfile.Parse(path, body, nil)
	if err != nil {
		return "", nil, err
	}
	return filepath.Dir(path), file, nil
}

type modInfo struct {
	Path    string
	Version string
	Dir     string
}

// decodeModules reads the stream of JSON objects `go list -m -json` and `go mod download -json` print.
func decodeModules(out []byte) ([]modInfo, error) {
	var modules []modInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var m modInfo
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		modules = append(modules, m)
	}
	return modules, nil
}

// moduleSources is where the required modules' sources are: `go list -m -json`, then
// `go mod download -json` for those not yet in the module cache; a vendor/ folder wins.
func moduleSources(ctx context.Context, modDir string, paths []string) ([]modInfo, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := goCommand(ctx, modDir, append([]string{"list", "-m", "-json"}, paths...)...)
	if err != nil {
		return nil, err
	}
	modules, err := decodeModules(out)
	if err != nil {
		return nil, err
	}
	vendor := filepath.Join(modDir, "vendor")
	_, vendorErr := os.Stat(vendor)
	var missing []string
	index := map[string]int{}
	for i, m := range modules {
		index[m.Path] = i
		if m.Dir == "" && vendorErr == nil {
			if _, err := os.Stat(filepath.Join(vendor, m.Path)); err == nil {
				modules[i].Dir = filepath.Join(vendor, m.Path)
			}
		} else if m.Dir == "" {
			missing = append(missing, m.Path)
		}
	}
	if len(missing) > 0 {
		out, err := goCommand(ctx, modDir, append([]string{"mod", "download", "-json"}, missing...)...)
		if err != nil {
			return nil, err
		}
		downloaded, err := decodeModules(out)
		if err != nil {
			return nil, err
		}
		for _, d := range downloaded {
			if i, ok := index[d.Path]; ok && modules[i].Dir == "" {
				modules[i].Dir = d.Dir
			}
		}
	}
	found := modules[:0]
	for _, m := range modules {
		if m.Dir != "" {
			found = append(found, m)
		}
	}
	return found, nil
}

// pluginJSON is the module's pulumi-plugin.json, looked for where Pulumi's host looks:
// the module root, go/, go/*/ and */ (a generated SDK keeps it in its package folder).
func pluginJSON(dir string) (*plugin.PulumiPluginJSON, error) {
	paths := []string{filepath.Join(dir, "pulumi-plugin.json"), filepath.Join(dir, "go", "pulumi-plugin.json")}
	for _, pattern := range []string{filepath.Join(dir, "go", "*", "pulumi-plugin.json"), filepath.Join(dir, "*", "pulumi-plugin.json")} {
		matches, _ := filepath.Glob(pattern)
		paths = append(paths, matches...)
	}
	for _, path := range paths {
		found, err := plugin.LoadPulumiPluginJSON(path)
		if os.IsNotExist(err) {
			continue
		}
		return found, err
	}
	return nil, nil
}

// providerOf is the resource plugin a module stands for, or nil: a module with a
// pulumi-plugin.json saying `resource: true`, or one of Pulumi's github.com/pulumi/pulumi-*.
func providerOf(m modInfo) (*pulumirpc.PackageDependency, error) {
	meta, err := pluginJSON(m.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	if meta == nil && !strings.HasPrefix(m.Path, "github.com/pulumi/pulumi-") || meta != nil && !meta.Resource {
		return nil, nil
	}
	dep := &pulumirpc.PackageDependency{Kind: "resource", Version: m.Version}
	if meta != nil {
		dep.Name, dep.Server = meta.Name, meta.Server
		if meta.Version != "" {
			dep.Version = meta.Version
		}
		if p := meta.Parameterization; p != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
	}
	if dep.Name == "" { // github.com/pulumi/pulumi-aws/sdk/v6 => aws
		dep.Name = strings.SplitN(strings.Split(m.Path, "/")[2], "-", 2)[1]
	}
	v, err := semver.ParseTolerant(dep.Version)
	if err != nil {
		return nil, nil // a replaced module without a version nor a pulumi-plugin.json one
	}
	// A pseudo-version follows the release it was cut after; ask for that release.
	if module.IsPseudoVersion(dep.Version) {
		if v.Major == 0 && v.Minor == 0 && v.Patch == 0 {
			return nil, nil
		}
		if v.Patch > 0 {
			v.Patch--
		}
		dep.Version = fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return dep, nil
}

// requiredPackages is what Pulumi's Go host reports. A program outside a module, or whose
// modules cannot be listed, requires nothing here: its build then says why.
func requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	modDir, gomod, err := loadGoMod(ctx, programDir(info, ""))
	if err != nil {
		return nil, nil
	}
	var paths []string
	for _, r := range gomod.Require {
		paths = append(paths, r.Mod.Path)
	}
	modules, err := moduleSources(ctx, modDir, paths)
	if err != nil {
		return nil, nil
	}
	deps := []*pulumirpc.PackageDependency{}
	for _, m := range modules {
		dep, err := providerOf(m)
		if err != nil {
			return nil, err
		}
		if dep != nil {
			deps = append(deps, dep)
		}
	}
	return deps, nil
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	ctx, cancel := h.withEngine(ctx)
	defer cancel()
	deps, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

// GetRequiredPlugins serves engines older than GetRequiredPackages: the same list.
func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	ctx, cancel := h.withEngine(ctx)
	defer cancel()
	deps, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	plugins := []*pulumirpc.PluginDependency{}
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// InstallDependencies fetches the modules go.mod requires; it leaves go.mod as it is.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx, cancel := h.withEngine(server.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-x")
	cmd.Dir = programDir(req.GetInfo(), req.GetDirectory())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("`go mod download` failed in %s: %w", cmd.Dir, err)
	}
	return closer.Close()
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	_, gomod, err := loadGoMod(ctx, programDir(req.GetInfo(), ""))
	if err != nil {
		return nil, err
	}
	// A module replaced by a folder has no version of its own.
	replaced := map[string]bool{}
	for _, r := range gomod.Replace {
		replaced[r.Old.Path] = true
	}
	deps := []*pulumirpc.DependencyInfo{}
	for _, r := range gomod.Require {
		if r.Indirect && !req.GetTransitiveDependencies() {
			continue
		}
		v := r.Mod.Version
		if replaced[r.Mod.Path] {
			v = ""
		}
		deps = append(deps, &pulumirpc.DependencyInfo{Name: r.Mod.Path, Version: v})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, gobin, "version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: gobin, Version: strings.TrimSpace(string(out))}, nil
}

// executable is the program to run: the `binary` runtime option (a path, relative to the
// program's folder, or a name on PATH), else the program built into `buildTarget` or a
// temporary file; cleanup removes a temporary build. A failed build is a user error.
func executable(ctx context.Context, dir string, options map[string]any) (bin string, cleanup func(), userErr string, err error) {
	cleanup = func() {}
	binary, _ := options["binary"].(string)
	target, _ := options["buildTarget"].(string)
	if binary != "" && target != "" {
		return "", cleanup, "the runtime options binary and buildTarget cannot both be given", nil
	}
	if binary != "" {
		if !filepath.IsAbs(binary) {
			if _, err := os.Stat(filepath.Join(dir, binary)); err == nil || strings.ContainsRune(binary, filepath.Separator) {
				binary = filepath.Join(dir, binary)
			}
		}
		path, err := exec.LookPath(binary)
		if err != nil {
			return "", cleanup, fmt.Sprintf("the program's binary %q was not found: %v", binary, err), nil
		}
		return path, cleanup, "", nil
	}
	if target == "" {
		tmp, err := os.MkdirTemp("", "pulumi-go-")
		if err != nil {
			return "", cleanup, "", err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		target = filepath.Join(tmp, "program")
	} else if !filepath.IsAbs(target) {
		target = filepath.Join(dir, target)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", target, ".")
	build.Dir = dir
	out, err := build.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return "", cleanup, "", ctx.Err()
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", cleanup, fmt.Sprintf("the Go program in %s did not build (`go build`):\n%s",
				dir, strings.TrimSpace(string(out))), nil
		}
		return "", cleanup, fmt.Sprintf("could not run `go build` (is Go installed?): %v", err), nil
	}
	return target, cleanup, "", nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	dir := programDir(info, req.GetPwd())
	ctx, stopProgram := h.withEngine(ctx)
	defer stopProgram()

	bin, cleanup, userErr, err := executable(ctx, dir, info.GetOptions().AsMap())
	defer cleanup()
	if err != nil {
		return nil, err
	}
	if userErr != "" {
		return &pulumirpc.RunResponse{Error: userErr}, nil
	}

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(append([]string{}, req.GetConfigSecretKeys()...))
	if err != nil {
		return nil, err
	}
	// The names the Go SDK reads (sdk/v3/go/pulumi/run.go).
	env := append(os.Environ(),
		"PULUMI_MONITOR="+req.GetMonitorAddress(),
		"PULUMI_ENGINE="+h.engineAddress,
		"PULUMI_PROJECT="+req.GetProject(),
		"PULUMI_STACK="+req.GetStack(),
		"PULUMI_ORGANIZATION="+req.GetOrganization(),
		"PULUMI_ROOT_DIRECTORY="+info.GetRootDirectory(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_DRY_RUN="+strconv.FormatBool(req.GetDryRun()),
		"PULUMI_PARALLEL="+strconv.Itoa(int(req.GetParallel())),
	)
	cmd := exec.CommandContext(ctx, bin, req.GetArgs()...)
	cmd.Env = env
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run %s): %v", bin, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

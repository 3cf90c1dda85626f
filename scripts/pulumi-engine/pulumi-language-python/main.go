// A minimal Pulumi language host for Python programs.
//
// Pulumi's own host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the Go module proxy reachable from our machines, while the CLI and the
// SDK are. This host implements the part of the LanguageRuntime protocol that `pulumi
// preview/up/refresh/destroy` use for a pip-managed Python program: it runs the program
// through the SDK's own `pulumi-language-python-exec` launcher, resolving Python with the
// SDK's toolchain package so the `virtualenv` runtime option behaves as documented.
// Plugin discovery, package installation and code generation are left unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
)

// version is set at build time to the Pulumi version this host ships with.
var version = "dev"

// The launcher exits with this code once it has shown the user an actionable message;
// the engine must then bail out quietly instead of adding its own error.
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	launcher      string
	// Done once the engine stops answering: the program it ran is stopped with the host.
	engineGone context.Context
}

func main() {
	// The engine passes flags (-root, -tracing, ...) before the engine address; only
	// the address matters here.
	var positional []string
	for _, arg := range os.Args[1:] {
		if len(arg) > 0 && arg[0] != '-' {
			positional = append(positional, arg)
		}
	}
	if len(positional) == 0 {
		fmt.Fprintln(os.Stderr, "pulumi-language-python: missing the engine address argument")
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
	h := &host{
		engineAddress: positional[len(positional)-1],
		launcher:      filepath.Join(filepath.Dir(self), "pulumi-language-python-exec"),
	}
	// The engine stops a plugin by sending SIGINT to its process group, and kills it only
	// 5 s later. A Go program does not receive a signal its parent ignored (a background
	// job in a script, some CI runners) unless it asks for it, so ask: otherwise every
	// command would wait those 5 s for this host.
	stop, unregister := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A killed engine sends no signal: like Pulumi's own hosts, ask it every second whether
	// it is still there, and when it is not, stop the program and exit instead of running
	// on as an orphan.
	gone, engineGone := context.WithCancel(context.Background())
	if err := rpcutil.Healthcheck(gone, h.engineAddress, time.Second, engineGone); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
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
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(context.Context, *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Dynamic providers run in-process through pulumi-resource-pulumi-python, which the
// engine finds on PATH, so a program needs no plugin the engine would have to download.
func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) InstallDependencies(*pulumirpc.InstallDependenciesRequest, pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	// Dependencies are installed by the project's own tooling (pip install -e .).
	return nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func resolve(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
	}
	if venv, ok := info.GetOptions().AsMap()["virtualenv"].(string); ok {
		opts.Virtualenv = venv
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	tc, err := resolve(info)
	if err != nil {
		return nil, err
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args := []string{
		"-u", h.launcher,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--root_directory", info.GetRootDirectory(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		entry,
	}
	args = append(args, req.GetArgs()...)
	// The program stops with the engine: exec kills it when this context ends, and the
	// server's graceful stop waits for this call to return.
	ctx, stopProgram := context.WithCancel(ctx)
	defer stopProgram()
	go func() {
		select {
		case <-h.engineGone.Done():
			stopProgram()
		case <-ctx.Done():
		}
	}()
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	// The launcher expects a JSON object and a JSON list, never null.
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
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	cmd.Dir = req.GetPwd()
	// The engine shows what a plugin writes, so the program's own output reaches the user.
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
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

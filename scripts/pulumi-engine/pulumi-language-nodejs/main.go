// A minimal Pulumi language host for Node.js (TypeScript and JavaScript) programs.
//
// Pulumi's own host (module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
// is not served by the Go module proxy reachable from our machines. This host implements
// the part of the LanguageRuntime protocol that `pulumi preview/up/refresh/destroy/import`
// use for a program whose dependencies are installed (`npm install`): it runs the program
// with the SDK's own runner, `node_modules/@pulumi/pulumi/cmd/run`, as Pulumi's host does.
// TypeScript runs through the SDK's bundled ts-node unless the `typescript: false` runtime
// option says otherwise. Plugin discovery, package installation and code generation are
// left unimplemented: the tests name the `pipecat` plugin in Pulumi.yaml.
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
	"google.golang.org/grpc"
)

// version is set at build time to the Pulumi version this host ships with.
var version = "dev"

// The runner exits with this code once it has shown the user an actionable message (an
// error of the program, already logged): the engine must then bail out quietly.
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	// Done once the engine stops answering: the program it ran is stopped with the host.
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
		fmt.Fprintln(os.Stderr, "pulumi-language-nodejs: missing the engine address argument")
		os.Exit(1)
	}
	h := &host{engineAddress: positional[len(positional)-1]}
	// As in our Python host: ask for SIGINT (a parent that ignores it passes that on), and
	// stop with a killed engine, which sends no signal.
	stop, unregister := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	gone, engineGone := context.WithCancel(context.Background())
	if err := rpcutil.Healthcheck(gone, h.engineAddress, time.Second, engineGone); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
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
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from our first line
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(context.Context, *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) InstallDependencies(*pulumirpc.InstallDependenciesRequest, pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	return nil // `npm install` is the project's own step
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: string(out)}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	program := info.GetProgramDirectory()
	if program == "" {
		program = req.GetPwd()
	}
	runner := filepath.Join(program, "node_modules", "@pulumi", "pulumi", "cmd", "run")
	if _, err := os.Stat(runner); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"this program's dependencies are not installed (no %s): run `npm install` in %s", runner, program)}, nil
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args := []string{
		runner,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--root-directory", info.GetRootDirectory(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	ctx, stopProgram := context.WithCancel(ctx)
	defer stopProgram()
	go func() {
		select {
		case <-h.engineGone.Done():
			stopProgram()
		case <-ctx.Done():
		}
	}()
	cmd := exec.CommandContext(ctx, "node", args...)
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
	typescript := "true"
	if ts, ok := info.GetOptions().AsMap()["typescript"].(bool); ok && !ts {
		typescript = "false"
	}
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_NODEJS_TYPESCRIPT="+typescript,
	)
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
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run node): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// Command pulumi-language-python is clawker-monitor's test-only Python language host.
//
// The official host lives in its own Go module inside the pulumi repository, and the Go
// module proxy reachable from our machines does not serve that module at any version, so
// tools/toolchain.sh builds this small replacement instead. It speaks the same gRPC
// protocol (pulumirpc.LanguageRuntime) and leans on the Pulumi SDK's own Python toolchain
// package (pip / poetry / uv, `virtualenv` and `toolchain` runtime options), and it runs
// programs through the SDK's `pulumi-language-python-exec` script, exactly the script the
// official distribution ships next to the CLI. It is test tooling only: users run the
// official CLI distribution.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is stamped by the build (-ldflags "-X main.version=...") with the CLI version.
var version = "0.0.0-dev"

// exitCodeUserActionable is what pulumi-language-python-exec returns after it has already
// shown the user an error; the engine should then bail without adding its own message.
const exitCodeUserActionable = 32

// listPluginsScript prints, as JSON, the Pulumi plugin manifests (pulumi-plugin.json) that
// installed distributions carry, so the engine learns which provider plugins a program needs.
const listPluginsScript = `
import json, sys
try:
    from importlib import metadata
except ImportError:
    print("[]"); sys.exit(0)
found = []
for dist in metadata.distributions():
    for entry in (dist.files or []):
        if entry.name != "pulumi-plugin.json":
            continue
        try:
            manifest = json.loads(entry.read_text())
        except Exception:
            continue
        if not isinstance(manifest, dict):
            continue
        manifest["_dist"] = dist.metadata["Name"] or ""
        manifest["_dist_version"] = dist.version or ""
        found.append(manifest)
print(json.dumps(found))
`

type pluginManifest struct {
	Resource    bool   `json:"resource"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Server      string `json:"server"`
	Dist        string `json:"_dist"`
	DistVersion string `json:"_dist_version"`
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	tracing       string
}

func main() {
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	tracing := flags.String("tracing", "", "tracing endpoint (passed on to the program)")
	flags.Bool("logtostderr", false, "accepted for compatibility; ignored")
	flags.Int("v", 0, "accepted for compatibility; ignored")
	flags.String("root", "", "accepted for compatibility; ignored")
	flags.String("virtualenv", "", "accepted for compatibility; ignored")
	flags.String("typechecker", "", "accepted for compatibility; ignored")
	flags.String("toolchain", "", "accepted for compatibility; ignored")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	h := &host{tracing: *tracing}
	if flags.NArg() > 0 {
		h.engineAddress = flags.Arg(0)
	}

	// Like the official hosts, go away when the engine does (a killed `pulumi` must not leave
	// language hosts behind): a cheap gRPC health check against the engine every few seconds.
	stop := make(chan bool, 1)
	if h.engineAddress != "" {
		ctx, cancel := context.WithCancel(context.Background())
		if err := rpcutil.Healthcheck(ctx, h.engineAddress, 5*time.Second, cancel); err == nil {
			go func() {
				<-ctx.Done()
				stop <- true
			}()
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Cancel: stop,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start the gRPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: gRPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

// pythonToolchain builds the SDK's toolchain object for a program from its runtime options.
func pythonToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, errors.New("missing program info")
	}
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Auto,
	}
	if opts.Root == "" {
		opts.Root = opts.ProgramDir
	}
	options := map[string]any{}
	if info.GetOptions() != nil {
		options = info.GetOptions().AsMap()
	}
	if v, ok := options["virtualenv"].(string); ok {
		opts.Virtualenv = v
	}
	if v, ok := options["toolchain"].(string); ok {
		switch strings.ToLower(v) {
		case "", "auto":
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return nil, fmt.Errorf("unsupported python toolchain %q", v)
		}
	}
	if v, ok := options["typechecker"].(string); ok && v != "" {
		fmt.Fprintf(os.Stderr, "pulumi-language-python (clawker test host): typechecker %q is ignored\n", v)
	}
	return toolchain.ResolveToolchain(opts)
}

// legacyInfo fills in a ProgramInfo for requests from engines that only send pwd/program.
func legacyInfo(info *pulumirpc.ProgramInfo, pwd, program string) *pulumirpc.ProgramInfo {
	if info != nil {
		return info
	}
	return &pulumirpc.ProgramInfo{
		RootDirectory:    pwd,
		ProgramDirectory: pwd,
		EntryPoint:       program,
		Options:          &structpb.Struct{},
	}
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// requiredPlugins asks the program's Python which installed packages carry a plugin manifest.
func (h *host) requiredPlugins(ctx context.Context, info *pulumirpc.ProgramInfo) ([]pluginManifest, error) {
	tc, err := pythonToolchain(info)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", listPluginsScript)
	if err != nil {
		return nil, err
	}
	cmd.Dir = info.GetProgramDirectory()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing installed Pulumi packages with %s: %w: %s", cmd.Path, err, stderr.String())
	}
	var manifests []pluginManifest
	if err := json.Unmarshal(bytes.TrimSpace(out), &manifests); err != nil {
		return nil, fmt.Errorf("reading the list of installed Pulumi packages: %w", err)
	}
	var plugins []pluginManifest
	for _, m := range manifests {
		if !m.Resource {
			continue
		}
		if m.Name == "" {
			m.Name = strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(m.Dist), "_", "-"), "pulumi-")
		}
		if m.Version == "" {
			m.Version = m.DistVersion
		}
		if m.Version != "" && !strings.HasPrefix(m.Version, "v") {
			m.Version = "v" + m.Version
		}
		plugins = append(plugins, m)
	}
	return plugins, nil
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	plugins, err := h.requiredPlugins(ctx, legacyInfo(req.GetInfo(), req.GetPwd(), req.GetProgram()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		return &pulumirpc.GetRequiredPluginsResponse{}, nil
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range plugins {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	plugins, err := h.requiredPlugins(ctx, req.GetInfo())
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		return &pulumirpc.GetRequiredPackagesResponse{}, nil
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: p.Name, Kind: "resource", Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

// execScript finds pulumi-language-python-exec: an explicit override, then next to this
// binary (where toolchain.sh installs it), then on PATH.
func execScript() (string, error) {
	if p := os.Getenv("PULUMI_LANGUAGE_PYTHON_EXEC"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		candidate := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	return exec.LookPath("pulumi-language-python-exec")
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := legacyInfo(req.GetInfo(), req.GetPwd(), req.GetProgram())
	tc, err := pythonToolchain(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	script, err := execScript()
	if err != nil {
		return &pulumirpc.RunResponse{Error: "cannot find pulumi-language-python-exec: " + err.Error()}, nil
	}

	program := info.GetEntryPoint()
	if program == "" {
		program = req.GetProgram()
	}
	if program == "" {
		program = "."
	}
	args := []string{"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", info.GetRootDirectory(),
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{} // "null" would break the SDK's config loading
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitCodeUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards output of dependency installation to the engine.
type streamWriter struct {
	mu     *sync.Mutex
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := append([]byte(nil), p...)
	resp := &pulumirpc.InstallDependenciesResponse{Stdout: data}
	if w.stderr {
		resp = &pulumirpc.InstallDependenciesResponse{Stderr: data}
	}
	if err := w.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	info := legacyInfo(req.GetInfo(), req.GetDirectory(), ".")
	tc, err := pythonToolchain(info)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var stdout, stderr io.Writer = streamWriter{&mu, server, false}, streamWriter{&mu, server, true}
	ctx := server.Context()
	dir := info.GetProgramDirectory()
	if err := tc.EnsureVenv(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	return tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr)
}

func (h *host) RuntimeOptionsPrompts(ctx context.Context, req *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonToolchain(legacyInfo(req.GetInfo(), ".", "."))
	if err != nil {
		return nil, err
	}
	about, err := tc.About(ctx)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &pulumirpc.AboutResponse{
		Executable: about.PythonExecutable,
		Version:    about.PythonVersion.String(),
		Metadata:   map[string]string{"host": "clawker-monitor test language host"},
	}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonToolchain(legacyInfo(req.GetInfo(), req.GetPwd(), req.GetProgram()))
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

// Command pulumi-resource-docker (clawker-monitor test build).
//
// A fallback for tools/toolchain.sh when the Go module proxy cannot serve pulumi-docker's own
// provider module (github.com/pulumi/pulumi-docker/provider/vN is untagged, and the proxy
// reachable from our machines refuses it by commit). It bridges the same Terraform provider
// that pulumi-docker wraps (kreuzwerker/terraform-provider-docker, through our `shim` package)
// with pulumi-terraform-bridge, mapping Terraform names to the tokens and property names that
// the pulumi-docker SDK uses. Only the Terraform-backed resources exist here: pulumi-docker's
// natively implemented `docker.Image` (BuildKit builds) is not provided. Test tooling only.
//
//	pulumi-resource-docker                      serve (what the Pulumi engine runs)
//	pulumi-resource-docker -emit-schema FILE    write the Pulumi package schema (build step)
//
// When schema.json sits next to the binary it is served by GetSchema and used by the bridge
// to type-check inputs.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	pulumitokens "github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// version is stamped at build time with the pulumi-docker release the SDK asks for.
var version = "0.0.0-dev"

const pkgName = "docker"

// tok builds "docker:index/<lowerFirst(name)>:<name>".
func tok(name string) string {
	return fmt.Sprintf("%s:index/%c%s:%s", pkgName, unicode.ToLower(rune(name[0])), name[1:], name)
}

func resource(name string) *tfbridge.ResourceInfo {
	return &tfbridge.ResourceInfo{Tok: pulumitokens.Type(tok(name))}
}

func dataSource(name string) *tfbridge.DataSourceInfo {
	return &tfbridge.DataSourceInfo{Tok: pulumitokens.ModuleMember(tok(name))}
}

func providerInfo() tfbridge.ProviderInfo {
	container := resource("Container")
	container.DeleteBeforeReplace = true
	container.Fields = map[string]*tfbridge.SchemaInfo{
		// One command line given as a list: keep the singular name the SDK uses.
		"command": {Name: "command"},
		// Already plural in meaning; the SDK calls it networksAdvanced.
		"networks_advanced": {Name: "networksAdvanced"},
	}
	remoteImage := resource("RemoteImage")
	remoteImage.Fields = map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}}

	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(shim.NewProvider()),
		Name:        pkgName,
		Version:     version,
		Description: "Docker provider for clawker-monitor tests (Terraform-bridged)",
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{
				Value: "unix:///var/run/docker.sock", EnvVars: []string{"DOCKER_HOST"},
			}},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config":         resource("ServiceConfig"),
			"docker_container":      container,
			"docker_image":          remoteImage,
			"docker_network":        resource("Network"),
			"docker_plugin":         resource("Plugin"),
			"docker_registry_image": resource("RegistryImage"),
			"docker_secret":         resource("Secret"),
			"docker_service":        resource("Service"),
			"docker_tag":            resource("Tag"),
			"docker_volume":         resource("Volume"),
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":          dataSource("getRemoteImage"),
			"docker_network":        dataSource("getNetwork"),
			"docker_plugin":         dataSource("getPlugin"),
			"docker_registry_image": dataSource("getRegistryImage"),
		},
	}
	// Anything newer in the Terraform provider gets the standard docker:index/... token.
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard(pkgName)))
	info.SetAutonaming(255, "-")
	return info
}

func emitSchema(path string) error {
	sink := diag.DefaultSink(os.Stderr, os.Stderr, diag.FormatOptions{Color: colors.Never})
	spec, err := tfgen.GenerateSchema(providerInfo(), sink)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func servedSchema() []byte {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "schema.json"))
	if err != nil {
		return nil
	}
	return data
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-emit-schema" {
		if err := emitSchema(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "pulumi-resource-docker: %v\n", err)
			os.Exit(1)
		}
		return
	}
	tfbridge.Main(pkgName, version, providerInfo(), servedSchema())
}

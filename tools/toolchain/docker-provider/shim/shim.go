// Package shim exposes kreuzwerker's Terraform Docker provider to pulumi-docker's bridge.
//
// pulumi-docker builds against its `upstream` git submodule plus a patch that adds this
// package; from the Go module proxy we get the upstream module without the patch, so
// tools/toolchain.sh supplies the package as its own small module whose import path sits
// under the upstream module path (Go's internal-package rule is by import path).
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the upstream provider's schema.Provider, as pulumi-docker expects.
func NewProvider() *schema.Provider {
	return provider.New("dev")()
}

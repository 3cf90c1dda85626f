//go:build tools

// Pins the YAML language host in its own module: pulumi-yaml builds only with the Pulumi
// packages it pins itself (pkg/v3 v3.206), not with the CLI's (scripts/pulumi-engine).
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"

//go:build tools

// Pins the Pulumi CLI's package in this module so `go build` can name it.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"

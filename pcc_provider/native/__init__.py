"""The native `pipecat` Pulumi provider: a second door onto the same resources.

The dynamic resources (pcc_provider.Build, ...) serve Python programs with nothing to
install; this provider plugin (`pulumi-resource-pipecat`, served by the SDK's
`pulumi.provider.experimental`) serves any Pulumi language, YAML first. It holds no
behaviour of its own: `server` translates the engine's requests into calls to the same
provider classes the dynamic resources use, and `schema` describes the resources from the
same Python definitions, so the two doors cannot drift apart.
"""

"""The build stack: one image, exported for deployment stacks to read by StackReference."""

import pulumi

from pcc_provider import Build

config = pulumi.Config()
image = Build(
    "hello-agent-image",
    context=config.get("context") or "../hello-agent",
    dockerfile="Dockerfile",
)

pulumi.export("imageUri", image.image_uri)
pulumi.export("buildId", image.build_id)
pulumi.export("contextHash", image.context_hash)
pulumi.export("region", image.region)

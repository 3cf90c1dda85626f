"""The demo program: build examples/hello-agent on Pipecat Cloud and deploy it as an agent.

`make demo` runs it against the local emulator; point it at the real service with
`pulumi config set --secret pipecat:apiKey <key>` (and no pipecat:apiUrl).
"""

import pulumi

from pcc_provider import Agent, Build

image = Build("hello-agent-image", context="examples/hello-agent", dockerfile="Dockerfile")
agent = Agent("hello-agent", service_name="hello-agent", build_id=image.build_id)

pulumi.export("imageUri", image.image_uri)
pulumi.export("buildId", image.build_id)
pulumi.export("contextHash", image.context_hash)
pulumi.export("agent", agent.service_name)
pulumi.export("deploymentId", agent.desired_deployment_id)

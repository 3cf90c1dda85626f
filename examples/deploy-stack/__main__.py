"""The deployment stack: reads a build stack's outputs and deploys them as an agent, with the
secrets the agent needs declared beside it.

pulumi config set buildStack organization/pcc-build/dev   # the build stack to deploy
pulumi config set --secret openaiApiKey sk-...            # a secret of the agent's
"""

import pulumi

from pcc_provider import Agent, SecretSet

config = pulumi.Config()
build = pulumi.StackReference(config.require("buildStack"))
region = config.get("region")

# The agent's environment. Values are Pulumi secrets (plain ones too): encrypted in the state,
# [secret] in every diff. A changed value redeploys the agent in the same `pulumi up`.
agent_secrets = SecretSet(
    "hello-agent-secrets",
    set_name=config.get("secretSetName") or "hello-agent-secrets",
    secrets={
        "OPENAI_API_KEY": config.require_secret("openaiApiKey"),
        "GREETING": config.get("greeting") or "Hello from a Pipecat agent deployed with Pulumi.",
    },
    region=region,
)

agent = Agent(
    "hello-agent",
    service_name=config.get("serviceName") or "hello-agent",
    build_id=build.require_output("buildId"),
    region=region,
    secret_set=agent_secrets.set_name,
    min_agents=config.get_int("minAgents"),
    max_agents=config.get_int("maxAgents"),
    agent_profile=config.get("agentProfile"),
)

pulumi.export("serviceName", agent.service_name)
pulumi.export("deployedBuildId", agent.build_id)
pulumi.export("deploymentId", agent.desired_deployment_id)
pulumi.export("ready", agent.ready)
pulumi.export("imageUri", build.require_output("imageUri"))
pulumi.export("secretSet", agent_secrets.set_name)
pulumi.export("secretKeys", agent_secrets.keys)

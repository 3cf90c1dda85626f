"""The deployment stack: reads a build stack's outputs and deploys them as an agent.

pulumi config set buildStack organization/pcc-build/dev   # the build stack to deploy
"""

import pulumi

from pcc_provider import Agent

config = pulumi.Config()
build = pulumi.StackReference(config.require("buildStack"))

agent = Agent(
    "hello-agent",
    service_name=config.get("serviceName") or "hello-agent",
    build_id=build.require_output("buildId"),
    region=config.get("region"),
    min_agents=config.get_int("minAgents"),
    max_agents=config.get_int("maxAgents"),
    agent_profile=config.get("agentProfile"),
)

pulumi.export("serviceName", agent.service_name)
pulumi.export("deployedBuildId", agent.build_id)
pulumi.export("deploymentId", agent.desired_deployment_id)
pulumi.export("ready", agent.ready)
pulumi.export("imageUri", build.require_output("imageUri"))

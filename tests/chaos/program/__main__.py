"""The chaos runner's program family: what one stack declares comes from its config `model`
(plain JSON: builds, secret sets, image pull secrets, agents and their bindings) and
`values` (a secret: every secret value), so each step can edit it with `pulumi config set`."""

import json

import pulumi

from pcc_provider import Agent, Build, ImagePullSecret, SecretSet

cfg = pulumi.Config()
model = json.loads(cfg.require("model"))
values = cfg.require_secret_object("values")
# Set only by the runner's --inject adopt: the program takes over objects it did not create,
# which the runner must then see as one object owned by two stacks.
adopt = bool(model.get("adopt"))


def value(owner: str, key: str) -> pulumi.Output[str]:
    return values.apply(lambda v: str(v[owner][key]))


builds = {
    name: Build(name, context=spec["context"], build_timeout=120)
    for name, spec in model["builds"].items()
}
sets = {
    name: SecretSet(
        name,
        set_name=spec["setName"],
        secrets={key: value(name, key) for key in spec["keys"]},
        adopt_existing=adopt,
    )
    for name, spec in model["sets"].items()
}
pulls = {
    name: ImagePullSecret(
        name,
        set_name=spec["setName"],
        host="https://ghcr.io",
        username=spec["username"],
        password=value(name, "password"),
        adopt_existing=adopt,
    )
    for name, spec in model["pulls"].items()
}
for name, spec in model["agents"].items():
    Agent(
        name,
        service_name=spec["serviceName"],
        build_id=builds[spec["build"]].build_id,
        secret_set=sets[spec["set"]] if spec.get("set") else None,
        image_pull_secret_set=pulls[spec["pull"]] if spec.get("pull") else None,
        min_agents=spec["minAgents"],
        max_agents=spec["maxAgents"],
        agent_profile=spec["profile"],
        deploy_timeout=60,
        adopt_existing=adopt,
    )

"""The chaos runner's program family: what one stack declares comes from its config `model`
(plain JSON: builds, secret sets, image pull secrets, agents and their bindings) and
`values` (a secret: every secret value), so each step can edit it with `pulumi config set`.

An agent with `"smoke": true` proves each new deployment with a short smoke session (its
public key: the stack's secret config `pipecat:publicApiKey`, minted by the runner); its
`"drain"` ("wait" or "proceed") and `"drainTimeout"` say what a delete does with its live
sessions."""

import json

import pulumi

from pcc_provider import Agent, Build, ImagePullSecret, SecretSet, SmokeCheck

cfg = pulumi.Config()
model = json.loads(cfg.require("model"))
values = cfg.require_secret_object("values")
# Set only by the runner's --inject, violations it must then see: "adopt", the program takes
# over objects it did not create (one object owned by two stacks); "no-smoke", no agent proves
# its deployments, whatever the model says (an agent left on a bot that crashes); "cut-calls",
# every delete proceeds over live sessions, whatever the model says (calls cut).
inject = model.get("inject")
adopt = inject == "adopt"
# Short, so that a step stays short: the bot starts within 1 to 3 s on the emulator.
SMOKE = SmokeCheck(run_seconds=2, start_timeout=20)


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
        smoke=SMOKE if spec.get("smoke") and inject != "no-smoke" else None,
        on_active_sessions="proceed" if inject == "cut-calls" else spec.get("drain", "wait"),
        drain_timeout=spec.get("drainTimeout", 20),
        adopt_existing=adopt,
    )

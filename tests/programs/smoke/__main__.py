"""One trivial dynamic resource: proves the engine, language host and provider plugin run."""

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, ResourceProvider


class Greeting(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="greeting-1", outs={**props, "text": f"hello, {props['name']}"})

    def read(self, id_, props):
        return ReadResult(id_=id_, outs=props)


class Hello(Resource):
    text: pulumi.Output[str]

    def __init__(self, name, who):
        super().__init__(Greeting(), name, {"name": who, "text": None})


hello = Hello("hello", pulumi.Config().get("who") or "world")
pulumi.export("text", hello.text)

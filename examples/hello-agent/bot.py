"""A minimal Pipecat Cloud agent: the base image calls `bot(args)` for each session."""

from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecatcloud.agent import DailySessionArguments

GREETING = "Hello from a Pipecat agent deployed with Pulumi."


async def bot(args: DailySessionArguments) -> None:
    from pipecat.transports.services.daily import DailyParams, DailyTransport

    transport = DailyTransport(args.room_url, args.token, "hello-agent", DailyParams())
    task = PipelineTask(Pipeline([transport.input(), transport.output()]))
    await PipelineRunner().run(task)

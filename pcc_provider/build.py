"""The Build resource: a Pipecat Cloud image built from a local context folder.

    image = Build("agent-image", context="agent", dockerfile="Dockerfile", region="us-west")
    pulumi.export("imageUri", image.image_uri)

The program digests the context (pcc_provider.context: a SHA-256 per file, cached by stat)
and passes the content digest as an input, so `pulumi preview` shows a replacement exactly
when the image would change, reads only the files that changed, and calls no API. The
archive and its `contextHash` are made only on create, once: the provider reuses a
successful build with the same hash, region and Dockerfile, reattaches to one in flight
unless it is older than build_timeout (stuck), or uploads the archive and waits for the new
build. contextHash is an output, so it is unknown in a preview that replaces the build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict, Unpack

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
)

from pcc_provider import api, cancel
from pcc_provider import context as build_context
from pcc_provider.description import (
    UNKNOWN,
    Description,
    Door,
    Field,
    describe,
    positive_seconds,
    present,
    region_problem,
)
from pcc_provider.errors import PipecatError, Transient
from pcc_provider.plugin import one_at_a_time
from pcc_provider.resource import (
    ApiProvider,
    ApiResource,
    Patience,
    Progress,
    checked,
    poll,
    refuse_import,
    resource_urn,
)

DEFAULT_BUILD_TIMEOUT = 30 * 60
LOG_TAIL = 15

# Hashing that takes longer than this shows its progress on the resource's row.
HASH_PROGRESS_AFTER = 1.0


def _text(name: str) -> Any:
    def check(value: Any, door: Door) -> str | None:
        return None if isinstance(value, str) else f"{door[name]} must be a string, not {value!r}"

    return check


class BuildArgs(TypedDict, total=False):
    """The inputs of a Build, by their Python names (pcc_provider.description)."""

    context: Annotated[
        str,
        Field(
            'the build context folder, relative to the program (default ".").',
            default=".",
            check=_text("context"),
        ),
    ]
    dockerfile: Annotated[
        str,
        Field(
            'the Dockerfile\'s path inside the context (default "Dockerfile").',
            default="Dockerfile",
            check=_text("dockerfile"),
            replaces=True,
        ),
    ]
    region: Annotated[
        str | None,
        Field(
            'the Pipecat Cloud region (default: config `pipecat:region`, else "us-west").',
            check=region_problem,
            replaces=True,
        ),
    ]
    exclude: Annotated[
        Sequence[str] | None,
        Field(
            "extra exclude patterns, as `[build.exclude] patterns` in pcc-deploy.toml.",
            # One pattern given as a string is one pattern, not a list of letters.
            normal=lambda given: [given] if isinstance(given, str) else list(given or []),
        ),
    ]
    build_timeout: Annotated[
        float,
        Field(
            "seconds to wait for the build in one `pulumi up` (default 1800); a build still "
            "running then goes on, and the next `pulumi up` reattaches to it.",
            default=DEFAULT_BUILD_TIMEOUT,
            check=positive_seconds("buildTimeout"),
        ),
    ]


def logs_command(build_id: str) -> str:
    """Where a build's logs are read: the command, not the API's logsUrl, which a browser
    cannot open (it needs the key: 401)."""
    return f"`pcc build logs {build_id}`"


class BuildError(PipecatError):
    """A build that failed, timed out, or could not be started; str() is for the user."""


def amount(size: float) -> str:
    """A byte count as people read it: 900 B, 12 KB, 3.4 MB, 1.2 GB (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size:.0f} B"


def amounts(done: float, total: float) -> str:
    """How far along: "12 KB" when done (or too small to count), else "3.4 of 340 MB"."""
    if done >= total or total < 1e6:
        return amount(total)
    unit, scale = ("GB", 1e9) if total >= 1e9 else ("MB", 1e6)
    digits = 1 if total / scale < 10 else 0
    return f"{done / scale:.{digits}f} of {total / scale:.{digits}f} {unit}"


class UploadProgress:
    """Upload progress as the resource's status, at most twice a second."""

    def __init__(self, progress: Progress, size: int) -> None:
        self.progress, self.size, self.last = progress, size, 0.0

    def __call__(self, sent: int, total: int) -> None:
        # One Ctrl-C stops an upload in progress: no build starts from it, and the next
        # `pulumi up` uploads again.
        cancel.check("uploading the build context")
        now = time.monotonic()
        if now - self.last >= 0.5 or sent >= total:
            self.last = now
            self.progress.status(f"uploading context: {amounts(min(sent, self.size), self.size)}")


class HashingProgress:
    """Hashing (or compressing) progress as the resource's status, once it has taken longer
    than `after` seconds (HASH_PROGRESS_AFTER unless given), then at most twice a second
    (called from the reading threads)."""

    def __init__(
        self,
        progress: Progress,
        what: str,
        verbs: tuple[str, str] = ("hashing", "hashed"),
        after: float | None = None,
    ) -> None:
        self.progress, self.what, self.verbs = progress, what, verbs
        # Read when hashing starts, not when this module loads: a program may set it.
        self.after = HASH_PROGRESS_AFTER if after is None else after
        self.started = self.last = time.monotonic()
        self.shown = False
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        self.total = total
        if now - self.started < self.after or (now - self.last < 0.5 and done < total):
            return
        self.last, self.shown = now, True
        self.progress.status(f"{self.verbs[0]} {self.what}: {amounts(done, total)}")

    def finish(self) -> None:
        """The row's last word on hashing, if it said anything: not a count that stopped."""
        if self.shown:
            took = time.monotonic() - self.started
            self.progress.status(
                f"{self.verbs[1]} {self.what}: {amount(self.total)} in {took:.1f}s"
            )


def digest_content(
    selected: build_context.Context,
    progress: Progress,
    what: str = "the build context",
    after: float | None = None,
) -> str:
    """The content digest of `selected`, its progress on the row when it takes a while
    (`after`: HashingProgress's)."""
    report = HashingProgress(progress, what, after=after)
    found = build_context.content_digest(selected, report)
    report.finish()
    return found


class BuildProvider(ApiProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = self.description.problems(news, self.door)
        return CheckResult(news, [CheckFailure(prop, reason) for prop, reason in found])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only another image is a change (what DESCRIPTION says replaces). A new context path,
        # timeout or set of excludes that selects the same files is recorded without an
        # update step, so nothing downstream sees this build's outputs as unknown in preview.
        replaces = [k for k in DESCRIPTION.replace_on if olds.get(k) != news.get(k)]
        if "contentDigest" in replaces and _earlier_state_holds_this_content(olds, news):
            # A state an earlier version wrote, or `pulumi import` (the build's contextHash,
            # no digest), of the same content: upgrading pcc-provider or importing replaces
            # nothing. (Its outputs keep what they held until the next build.)
            replaces.remove("contentDigest")
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        key, waited = _image_key(props), threading.Event()
        progress = Progress(props.get("__urn"))

        def waiting() -> None:
            waited.set()
            progress.status("waiting for another Build of the same image")

        try:
            with self._client(progress=progress) as client, one_at_a_time(key, waiting):
                failed = _failures.get(key)
                if waited.is_set() and failed is not None:
                    # The same content would fail the same way: not built a second time.
                    raise BuildError(f"another Build of the same image failed: {failed}")
                _failures.pop(key, None)
                try:
                    build, source = self._obtain(client, props, progress)
                except (api.ApiError, build_context.ContextError, BuildError) as exc:
                    _failures[key] = str(exc)
                    raise
        except (api.ApiError, build_context.ContextError) as exc:
            raise BuildError(str(exc)) from None
        return CreateResult(build["id"], self._outputs(props, build, source))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            with self._client(True, Progress(props.get("__urn"))) as client:
                build = client.get_build(id_)
        except api.NotFound:
            return ReadResult("", {})  # gone: refresh drops it from the state
        except api.ApiError as exc:
            raise BuildError(str(exc)) from None
        outs = self._outputs(props, build, props.get("source") or "existing")
        if "context" in props:
            return ReadResult(id_, outs)
        # `pulumi import` (native provider): the build's region and Dockerfile; its context
        # is a folder on the machine that made it, which the program names. Until the program
        # hashes it, the build's contextHash is what a preview compares (BuildProvider.diff),
        # so a program whose context has that hash keeps the build.
        inputs = {
            "region": outs["region"],
            "dockerfile": outs["dockerfilePath"] or "Dockerfile",
            "exclude": [],
            "buildTimeout": DEFAULT_BUILD_TIMEOUT,
            "contextHash": outs["contextHash"],
        }
        return ReadResult(id_, {**outs, **inputs}, inputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # The API has no way to delete a build: Pulumi forgets it, Pipecat Cloud keeps it.
        Progress(props.get("__urn")).info(
            f"build {id_} is kept by Pipecat Cloud (builds cannot be deleted)"
        )

    # -- the work -------------------------------------------------------------------------

    def _obtain(
        self, client: api.Client, props: dict[str, Any], progress: Progress
    ) -> tuple[dict[str, Any], str]:
        timeout = float(props.get("buildTimeout") or DEFAULT_BUILD_TIMEOUT)

        def waiting() -> None:
            progress.info(
                "waiting for another stack's build of the same image, which is being started "
                "on this machine; this one then reuses or reattaches to it"
            )

        # Another stack on this machine may be starting the same image right now: the one
        # holding the lock looks up, uploads and starts; the next then finds its build. The
        # lock is released before waiting for the build, which the next reattaches to.
        with build_context.image_lock(_lock_key(props, client.api_url), waiting):
            build, source = self._start(client, props, progress, timeout)
        if source in ("reattached", "new"):
            return self._wait(client, build, timeout, progress), source
        return build, source

    def _start(
        self, client: api.Client, props: dict[str, Any], progress: Progress, timeout: float
    ) -> tuple[dict[str, Any], str]:
        """A build of this image: a finished one (existing, cache), or one in flight to wait
        for (reattached, new)."""
        region, dockerfile = props["region"], props["dockerfile"]
        selected = build_context.select(props["context"], dockerfile, props.get("exclude") or ())
        planned = props["contentDigest"]
        if digest_content(selected, progress) != planned:
            raise BuildError(_changed(planned))
        # The contextHash names the build to reuse. It takes compressing the context, unless
        # this machine archived this content before; then an existing build needs no archive.
        known = build_context.cached_digest(selected)
        if known is not None:
            props.update(contextHash=known.context_hash, contextSizeBytes=known.archive_bytes)
            found = self._look(client, known.context_hash, region, dockerfile, progress, timeout)
            if found is not None:
                return found
        compressing = HashingProgress(progress, "the build context", ("compressing", "compressed"))
        with build_context.archive(selected, compressing) as (archive, digest):
            compressing.finish()
            if digest.content_digest != planned:
                raise BuildError(_changed(planned))
            props.update(contextHash=digest.context_hash, contextSizeBytes=digest.archive_bytes)
            if known is None:
                found = self._look(
                    client, digest.context_hash, region, dockerfile, progress, timeout
                )
                if found is not None:
                    return found
            upload = self._upload(client, region, archive, progress)
        return self._create(client, props, upload, progress, timeout)

    def _look(
        self,
        client: api.Client,
        want_hash: str,
        region: str,
        dockerfile: str,
        progress: Progress,
        timeout: float,
    ) -> tuple[dict[str, Any], str] | None:
        """A build of this image to reuse (existing) or to wait for (reattached), if any."""
        progress.status(f"looking for a build of {want_hash} in {region}")
        found = self._find(client, want_hash, region, dockerfile)
        if found is not None and found["status"] == "success":
            progress.info(f"reusing build {found['id']} ({found.get('imageUri')})")
            return found, "existing"
        if found is not None and (age := _stuck_for(found, timeout)) is not None:
            # Waiting could only end like the last `up` did: after build_timeout, failed.
            progress.warn(
                f"build {found['id']} has been {found['status']} for {age:.0f}s, longer than "
                f"{self.door['buildTimeout']} ({timeout:g}s): it looks stuck, so a new build "
                "starts instead "
                f"of reattaching to it; its logs: {logs_command(found['id'])}"
            )
            found = None
        if found is not None:
            status, logs = found["status"], logs_command(found["id"])
            progress.info(f"reattaching to build {found['id']} ({status}); logs: {logs}")
            return found, "reattached"
        return None

    def _create(
        self,
        client: api.Client,
        props: dict[str, Any],
        upload: api.Upload,
        progress: Progress,
        timeout: float,
    ) -> tuple[dict[str, Any], str]:
        """The build of the uploaded archive: a new one, or the server's cached one."""
        want_hash, region, dockerfile = props["contextHash"], props["region"], props["dockerfile"]
        cancel.check("starting the build")
        try:
            build, cached = client.create_build(upload.upload_id, region, dockerfile)
        except Transient:
            # The answer was lost or is in doubt: the build may have started. Find it rather
            # than build twice.
            found = self._find(client, want_hash, region, dockerfile)
            if found is None or _stuck_for(found, timeout) is not None:
                raise
            build, cached = found, found["status"] == "success"
        if build.get("contextHash") != want_hash:
            # The bytes were checked against want_hash before the upload, so the two hashes
            # disagree on the same archive: running again would not help.
            raise BuildError(
                f"Pipecat Cloud hashed the upload as {build.get('contextHash')} where "
                f"pcc-provider computed {want_hash} (build {build.get('id')}): the two "
                "disagree on how to hash a context; please report this"
            )
        if cached:
            progress.info(f"Pipecat Cloud already had this image: build {build['id']}")
            return build, "cache"
        progress.info(f"started build {build['id']}; logs: {logs_command(build['id'])}")
        return build, "new"

    @staticmethod
    def _find(
        client: api.Client, want_hash: str, region: str, dockerfile: str, in_flight: bool = True
    ) -> dict[str, Any] | None:
        """The newest successful build of this key, else (unless not `in_flight`: getBuild)
        the youngest one in flight."""
        youngest = None
        # The dockerfilePath filter saves pages when other Dockerfiles share this context.
        listed = client.list_builds(
            context_hash=want_hash, region=region, dockerfile_path=dockerfile
        )
        for build in listed:
            # Checked here too: a filter the service ignored must not pick another image.
            if (
                build.get("contextHash") != want_hash
                or build.get("region") != region
                or (build.get("dockerfilePath") or "Dockerfile") != dockerfile
                or not build.get("id")
            ):
                continue
            if build.get("status") == "success":
                return build
            if (
                in_flight
                and build.get("status") in api.IN_FLIGHT_STATUSES
                and (youngest is None or _created(build) > _created(youngest))
            ):
                youngest = build
        return youngest

    def _upload(
        self, client: api.Client, region: str, archive: Path, progress: Progress
    ) -> api.Upload:
        report = UploadProgress(progress, archive.stat().st_size)
        attempts = self.timings.upload_attempts
        for attempt in range(1, attempts + 1):
            cancel.check("uploading the build context")
            upload = client.create_upload(region)
            try:
                client.upload(upload, archive, report)
                return upload
            except api.UploadRefused as exc:
                # An expired or refused presigned URL is replaced by a fresh one.
                if attempt == attempts:
                    raise
                progress.warn(f"upload attempt {attempt} failed ({exc}); retrying with a new URL")
                cancel.sleep(attempt, "uploading the build context")
        raise AssertionError("unreachable")

    def _wait(
        self, client: api.Client, build: dict[str, Any], timeout: float, progress: Progress
    ) -> dict[str, Any]:
        build_id, logs = build["id"], logs_command(build["id"])
        patience, started = Patience(self.timings), time.monotonic()
        try:
            build = self._poll(client, build, timeout, progress, patience)
        except (api.NotFound, api.AuthError):
            raise
        except api.ApiError as exc:
            # build.py reattaches to a build in flight: the wait is lost, not the build.
            raise BuildError(
                f"lost track of build {build_id} while waiting for it ({exc}); it goes on in "
                "Pipecat Cloud, and the next `pulumi up` reattaches to it while it is younger "
                f"than {self.door['buildTimeout']} ({timeout:g}s). Logs: {logs}"
            ) from None
        # The row's last word: the outcome, not the last status polled ("building (2s)").
        took = time.monotonic() - started
        outcome = "succeeded" if build["status"] == "success" else build["status"]
        progress.status(f"build {build_id} {outcome} after {took:.0f}s")
        if build["status"] != "success":
            try:
                tail = client.build_logs(build_id)[-LOG_TAIL:]
            except api.ApiError:
                tail = []
            reason = build.get("errorMessage") or "no error message"
            lines = [f"build {build_id} {build['status']}: {reason}", f"logs: {logs}"]
            if tail:
                lines += ["last log lines:", *(f"  {line}" for line in tail)]
            raise BuildError("\n".join(lines))
        return build

    def _poll(
        self,
        client: api.Client,
        build: dict[str, Any],
        timeout: float,
        progress: Progress,
        patience: Patience,
    ) -> dict[str, Any]:
        build_id, logs = build["id"], logs_command(build["id"])
        named = self.door["buildTimeout"]
        return poll(
            build,
            lambda: patience.call(lambda: client.get_build(build_id), build),
            lambda b: b.get("status") in api.TERMINAL_STATUSES,
            timeout=timeout,
            describe=lambda b, took: (
                f"build {build_id} {b.get('status')} ({took:.0f}s); logs: {logs}"
            ),
            expired=lambda b: BuildError(
                f"build {build_id} is still {b.get('status')} after {timeout:g}s "
                f"({named}); it goes on in Pipecat Cloud. If builds of this context take "
                f"longer, raise {named}: the next `pulumi up` reattaches to a build in "
                f"flight younger than {named}, and starts a new one in place of an older "
                f"one. Logs: {logs}"
            ),
            progress=progress,
            timings=self.timings,
            answered=lambda: client.last_answer,
            rate_limited=client.pause.describe,
        )

    @staticmethod
    def _outputs(props: dict[str, Any], build: dict[str, Any], source: str) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k not in DESCRIPTION.output_names}
        outs.update(
            buildId=build.get("id"),
            imageUri=build.get("imageUri"),
            status=build.get("status"),
            contextHash=build.get("contextHash") or props.get("contextHash"),
            region=build.get("region") or props.get("region"),
            dockerfilePath=build.get("dockerfilePath") or props.get("dockerfile"),
            source=source,
            contextSizeBytes=build.get("contextSizeBytes") or props.get("contextSizeBytes"),
            imageSizeBytes=build.get("imageSizeBytes"),
            buildDurationSeconds=build.get("buildDurationSeconds"),
            logsUrl=build.get("logsUrl"),
            createdAt=build.get("createdAt"),
            completedAt=build.get("completedAt"),
        )
        return outs


class Build(ApiResource, module="pipecat", name="Build"):
    """A Pipecat Cloud image built from `context`."""

    # Each output's description reaches the schema, the SDKs and the reference page; an
    # Output[X | None] may stay unset, any other is always there (required in the schema).
    build_id: Annotated[pulumi.Output[str], "The build's id: what an Agent's build_id takes."]
    image_uri: Annotated[pulumi.Output[str], "The image the build produced."]
    context_hash: Annotated[
        pulumi.Output[str], "The context's hash as the official pcc CLI computes it."
    ]
    content_digest: Annotated[
        pulumi.Output[str | None],
        # Not contextHash: it depends on the machine's zlib, tarfile and os.access.
        Field(
            "SHA-256 of the context's paths, executable bits and bytes: what decides a "
            "rebuild (unset after an import, until the next up).",
            replaces=True,
            computed=True,
        ),
    ]
    status: Annotated[pulumi.Output[str], "The build's status (success once the up is done)."]
    region: Annotated[pulumi.Output[str], "The region the image was built in."]
    dockerfile_path: Annotated[pulumi.Output[str], "The Dockerfile's path inside the context."]
    source: Annotated[
        pulumi.Output[str | None],
        "How the build was obtained: existing, reattached, new, or cache (the server's).",
    ]
    context_size_bytes: Annotated[pulumi.Output[int | None], "The uploaded context's size."]
    image_size_bytes: Annotated[pulumi.Output[int | None], "The image's size, once built."]
    build_duration_seconds: Annotated[
        pulumi.Output[int | None], "How long the build took, once done."
    ]
    logs_url: Annotated[
        pulumi.Output[str | None], "The API's URL of the build's logs (needs the API key)."
    ]
    created_at: Annotated[pulumi.Output[str], "When the build was created (ISO 8601)."]
    completed_at: Annotated[pulumi.Output[str | None], "When the build ended (ISO 8601)."]

    def __init__(
        self,
        resource_name: str,
        *,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[BuildArgs],
    ) -> None:
        refuse_import("Build", resource_name, opts)
        props = checked("Build", resource_name, DESCRIPTION, args)
        urn = resource_urn(f"pulumi-python:{self._resource_type_name}", resource_name, opts)
        # On the row of this resource when it has its own URN (a child's is not known yet).
        props, failures, warnings = prepared(props, Progress(urn if isinstance(urn, str) else None))
        if props.get("contentDigest") in (None, UNKNOWN) and not failures:
            # The program hashes the context before the engine diffs it: it must be known.
            failures.append(
                (
                    "context",
                    "context, dockerfile and exclude must be plain strings, not Outputs: the "
                    "program hashes the context before anything is deployed",
                )
            )
        if failures:
            raise pulumi.RunError(f"Build {resource_name!r}: {failures[0][1]}")
        super().__init__(BuildProvider(), resource_name, {**props, "__urn": urn}, opts)
        for warning in warnings:
            pulumi.log.warn(warning, resource=self)

    @classmethod
    def get(
        cls,
        resource_name: str,
        build_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> Build:
        """Adopt an existing build by id (read-only; refresh keeps it current)."""
        props: dict[str, Any] = {name: None for name in cls.__annotations__}
        props["__urn"] = None
        build = cls.__new__(cls)
        Resource.__init__(
            build,
            BuildProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=build_id)),
        )
        return build


def _created(build: dict[str, Any]) -> float:
    """The build's createdAt as a Unix time; 0 when missing or unreadable."""
    try:
        return datetime.fromisoformat(str(build.get("createdAt"))).timestamp()
    except ValueError:
        return 0.0


def _stuck_for(build: dict[str, Any], timeout: float) -> float | None:
    """How long a build in flight has been so, if that is longer than `timeout`.

    Measured from the service's createdAt by this machine's clock; a build whose age is
    unknown is not called stuck."""
    created = _created(build)
    if build.get("status") not in api.IN_FLIGHT_STATUSES or not created:
        return None
    age = time.time() - created
    return age if age > timeout else None


def prepared(
    args: dict[str, Any], progress: Progress
) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """What both doors do with a Build's checked inputs before the engine diffs them: the
    content digest of the files it uploads (unknown until the context is), the Dockerfile as
    found, and the warnings for the program's author; or the context's problem."""
    if any(args.get(k) == UNKNOWN for k in ("context", "dockerfile", "exclude")):
        # The build is decided at `up`, once the context is known.
        return {**args, "contentDigest": UNKNOWN}, [], []
    if not isinstance(args.get("context"), str) or not isinstance(args.get("dockerfile"), str):
        return args, [], []  # refused by the check of each input
    try:
        selected, content, warnings = prepare(
            args["context"], args["dockerfile"], list(args["exclude"]), progress
        )
    except build_context.ContextError as exc:
        return args, [("context", str(exc))], []
    return {**args, "dockerfile": selected.dockerfile, "contentDigest": content}, [], warnings


def prepare(
    context: str, dockerfile: str, exclude: list[str], progress: Progress
) -> tuple[build_context.Context, str, list[str]]:
    """What both doors do with a Build's context before the engine diffs it: the files a
    build uploads, their content digest, and what the program's author should be warned of.
    ContextError for a context that cannot be read."""
    selected = build_context.select(context, dockerfile, exclude)
    content = digest_content(selected, progress)
    warnings = [
        *(
            f"{name} looks like a secret and will be uploaded with the build context: "
            "add it to .dockerignore"
            for name in selected.secret_files
        ),
        *selected.warnings,
        *(
            f"{name} is a symlink to a folder: Pipecat Cloud builds do not upload its "
            "contents (as with `pcc deploy`); copy the folder into the context instead"
            for name in selected.symlinked_dirs
        ),
    ]
    return selected, content, warnings


# Per image key, the error of the last create in this process that failed: a create that
# waited for it fails with it instead of building the same content again.
_failures: dict[tuple[Any, ...], str] = {}


def _lock_key(props: dict[str, Any], api_url: str) -> str:
    """What the cross-process image lock is named by: the image and the service it is
    built in."""
    return "\0".join(map(str, (*_image_key(props), api_url)))


def _changed(planned: str) -> str:
    return (
        f"the context changed since it was hashed for this deployment (planned {planned}): "
        "run `pulumi up` again"
    )


def _earlier_state_holds_this_content(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether a state written by an earlier pcc-provider, whose contentDigest is in the
    old encoding (content.LEGACY_PREFIX) or missing (then the contextHash decided, as after
    `pulumi import` of a build), records the content `news` digests. Computes the old
    digest or the contextHash of the context once (the cache keeps it), never for a state
    this version wrote."""
    old = olds.get("contentDigest")
    if isinstance(old, str) and not old.startswith(build_context.LEGACY_PREFIX):
        return False
    if old is None and not olds.get("contextHash"):
        return False
    context, dockerfile = news.get("context"), news.get("dockerfile")
    if not isinstance(context, str) or not isinstance(dockerfile, str):
        return False  # not known yet
    try:
        selected = build_context.select(context, dockerfile, news.get("exclude") or ())
        if build_context.content_digest(selected) != news.get("contentDigest"):
            return False  # changed since the program digested it
        if old is None:
            return build_context.digest(selected).context_hash == str(olds.get("contextHash"))
        return bool(build_context.legacy_content_digest(selected) == old)
    except build_context.ContextError:
        return False


def _image_key(props: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two builds the same image (what replaces one), for one_at_a_time."""
    return tuple(props.get(k) for k in DESCRIPTION.replace_on)


DESCRIPTION: Description = describe(
    "Build",
    BuildArgs,
    Build,
    provider=BuildProvider,
    derive=lambda args, declared, progress: prepared(args, progress),
    imported=("contextHash",),
    example={
        "python": """\
from pcc_provider import Build

image = Build("image", context="./agent", dockerfile="Dockerfile", region="us-west")
pulumi.export("imageUri", image.image_uri)""",
        "yaml": """\
resources:
  image:
    type: pipecat:index:Build
    properties: {context: ./agent, dockerfile: Dockerfile, region: us-west}
outputs:
  imageUri: ${image.imageUri}""",
        "typescript": """\
import * as pipecat from "@pcc-provider/pipecat";

const image = new pipecat.Build("image", { context: "./agent", dockerfile: "Dockerfile" });
export const imageUri = image.imageUri;""",
    },
)
present(Build)

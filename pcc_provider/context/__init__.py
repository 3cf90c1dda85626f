"""Build contexts: which files a build uploads, their content digest, .tar.gz and contextHash.

Pipecat Cloud names a build context by the first 16 hex characters of the MD5 of the
uploaded .tar.gz, and the official CLI (`pipecatcloud` 1.4.0) looks builds up by that hash
before uploading. So that a build made by `pcc deploy` is reused here and the other way
round, the archive built here is byte for byte the one the official CLI builds for the same
folder: same file selection, order, tar headers and gzip stream.

The contextHash depends on the machine (the zlib Python links, tarfile, os.access) and
costs a compression of the whole context, so what decides whether the image changes is the
content digest (content.py): a SHA-256 per file, combined with the paths and executable bits,
the same on every machine. A preview needs only that, and rehashes only the files whose stat
changed; the archive is made once, in the `up` that uploads it.

Unlike the official CLI this package streams (memory does not grow with the context), checks
the size limit before compressing, and refuses contexts that cannot build instead of
uploading them. The cache is private to its user and its entries are signed with a key kept
outside it.

selection.py chooses the files, content.py digests them, tarball.py streams the archive and
its hash, cache.py keeps what is known and holds the operations: content_digest(), digest(),
archive().

Pure: standard library only; no Pulumi, no HTTP.
"""

from __future__ import annotations

from pcc_provider.context.cache import (
    Hashed,
    archive,
    cache_dir,
    cached_digest,
    content_digest,
    digest,
    image_lock,
    legacy_content_digest,
)
from pcc_provider.context.content import LEGACY_PREFIX
from pcc_provider.context.selection import (
    DEFAULT_EXCLUSIONS,
    MAX_CONTEXT_BYTES,
    Context,
    ContextError,
    select,
)
from pcc_provider.context.tarball import Digest

__all__ = [
    "DEFAULT_EXCLUSIONS",
    "LEGACY_PREFIX",
    "MAX_CONTEXT_BYTES",
    "Context",
    "ContextError",
    "Digest",
    "Hashed",
    "archive",
    "cache_dir",
    "cached_digest",
    "content_digest",
    "digest",
    "image_lock",
    "legacy_content_digest",
    "select",
]

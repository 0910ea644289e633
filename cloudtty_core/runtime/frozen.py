"""Cached objects kept as compressed bytes: the encoding the informers store.

With 10,000 shells the informers hold tens of thousands of objects for as long as the operator
runs. As Python dicts, even compacted and interned, a CloudShell costs about 4 KB and a Service
2.5 KB: every dict costs 184 -- 272 bytes however few its keys. As JSON (``orjson``) compressed
with Zstandard against a dictionary made of recent objects of the same kind, the same objects
take 110 -- 300 bytes: what differs between two CloudShells of one operator is little more than
their names, uids, timestamps and resourceVersions.

:class:`Codec` is one kind's encoder. Its dictionary is learnt from the objects it encodes:
the last few it encoded, joined, become the dictionary of the next *generation* after 16, 64,
256, ... encodings, so it follows what the objects of the kind look like (a burst of new,
status-less shells first, Ready ones later). Each blob starts with the generation it was made
with; every generation's decompressor is kept, so no blob is ever re-encoded. A generation
costs a few kilobytes to decode with (the compressor, about 200 KiB, exists only for the
newest), and the number of generations is bounded (:data:`GENERATIONS`).

Decoding returns new dicts and lists (JSON values only). An object JSON cannot carry exactly --
an integer beyond 64 bits, a key that is not a string, a string that is not valid Unicode, a
datetime, a subclass of a JSON type -- is not encoded (:meth:`Codec.encode` returns None) and
the caller keeps it as it is. (Objects come from JSON, so this is rare; NaN and infinities,
which JSON has not, would come back as null.)

Encoding a CloudShell takes about 3 µs for JSON and 8 µs for compression on the benchmark
machine, decoding about 3 µs + 4 µs (docs/benchmarks.md, "Operator memory").
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import orjson
import zstandard

from cloudtty_core.model import Manifest

__all__ = ["GENERATIONS", "RETUNE_AT", "SAMPLES", "Codec"]

SAMPLES: Final = 4
"""How many recently encoded objects make up a new dictionary."""

RETUNE_AT: Final = (16, 64, 256, 1024, 4096, 16384, 65536)
"""Encodings after which a new dictionary generation starts (generation 0 has none)."""

GENERATIONS: Final = len(RETUNE_AT) + 1
"""Dictionary generations a codec ever makes; their decompressors are kept for good."""

LEVEL: Final = 3
"""Zstandard's level: level 1 and 3 make the same sizes on these small objects, at the same
speed; higher levels are slower for a few bytes."""


_EXACT: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson writes datetimes, dataclasses and subclasses of str, int, dict and list as JSON that
reads back as something else: with these options it refuses them (such an object is kept as it
is)."""


def _compressor(dictionary: zstandard.ZstdCompressionDict | None) -> zstandard.ZstdCompressor:
    # No checksum and no dictionary id: the generation byte names the dictionary, and a blob
    # never leaves the process. The content size lets decompress() size its output at once.
    return zstandard.ZstdCompressor(
        level=LEVEL,
        dict_data=dictionary,
        write_checksum=False,
        write_dict_id=False,
        write_content_size=True,
    )


class Codec:
    """Encodes the JSON objects of one kind as small bytes, and decodes them.

    :meth:`encode` is for one thread (the informer's event loop); :meth:`decode` may be called
    from any thread (a metrics scrape reads the caches from the HTTP server's thread): a
    Zstandard decompressor is not safe for two threads at once, so decoding takes a lock.
    """

    def __init__(self) -> None:
        self._compress = _compressor(None).compress
        self._decompressors: list[Any] = [zstandard.ZstdDecompressor().decompress]
        self._decoding = threading.Lock()
        self._samples: list[bytes] = []
        self._encoded = 0
        self._retune_at = 0  # index into RETUNE_AT

    @property
    def generation(self) -> int:
        """The dictionary generation new blobs are made with (0: no dictionary yet)."""
        return len(self._decompressors) - 1

    def encode(self, obj: Mapping[str, Any]) -> bytes | None:
        """``obj`` as bytes, or None when JSON cannot carry it exactly (keep it as it is)."""
        try:
            raw = orjson.dumps(obj, option=_EXACT)
        except TypeError:  # orjson.JSONEncodeError: big integer, non-str key, bad string...
            return None
        samples = self._samples
        if len(samples) >= SAMPLES:
            del samples[0]
        samples.append(raw)
        self._encoded += 1
        if self._retune_at < len(RETUNE_AT) and self._encoded >= RETUNE_AT[self._retune_at]:
            self._retune()
        return bytes((len(self._decompressors) - 1,)) + self._compress(raw)

    def decode(self, blob: bytes) -> Manifest:
        """The object ``blob`` was made from: new dicts and lists."""
        decompress = self._decompressors[blob[0]]
        with self._decoding:
            raw = decompress(blob[1:])
        decoded: Manifest = orjson.loads(raw)
        return decoded

    def _retune(self) -> None:
        """Start a generation whose dictionary is the objects encoded last."""
        self._retune_at += 1
        # The newest sample goes last: Zstandard finds matches nearer the end more cheaply.
        dictionary = zstandard.ZstdCompressionDict(
            b"".join(self._samples), dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        self._compress = _compressor(dictionary).compress
        self._decompressors.append(zstandard.ZstdDecompressor(dict_data=dictionary).decompress)

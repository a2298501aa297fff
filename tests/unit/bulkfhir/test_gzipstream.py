import gzip
import os
import zlib

import pytest

from bulkfhir import GzipMembersDecoder, NdjsonCounter, TransientError, UnexpectedResponseError

NDJSON = b"".join(b'{"resourceType":"Patient","id":"-%d"}\n' % i for i in range(1000))


def decode(chunks: list[bytes]) -> tuple[NdjsonCounter, GzipMembersDecoder]:
    counter = NdjsonCounter()
    decoder = GzipMembersDecoder(counter)
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.finish()
    return counter, decoder


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("piece_size", [1, 7, 4096, 10**7])
def test_bcda_body_with_trailing_empty_member_counts_every_line(piece_size):
    # Given the stored file plus the empty member BCDA's deferred gzip.Writer.Close() appends
    body = gzip.compress(NDJSON) + gzip.compress(b"")
    counter, decoder = decode(pieces(body, piece_size))
    assert (counter.total_lines, counter.bytes, decoder.members) == (1000, len(NDJSON), 2)


def test_a_single_zlib_decoder_would_have_stopped_after_the_first_member():
    body = gzip.compress(NDJSON[:500]) + gzip.compress(NDJSON[500:])
    single = zlib.decompressobj(31)
    assert single.decompress(body) == NDJSON[:500] and single.unused_data  # the quirk this module exists for
    counter, _ = decode([body])
    assert counter.bytes == len(NDJSON)


def test_truncated_gzip_is_a_transient_error():
    body = gzip.compress(NDJSON)
    with pytest.raises(TransientError, match="cut short"):
        decode([body[: len(body) // 2]])


def test_garbage_after_a_member_is_reported():
    with pytest.raises(UnexpectedResponseError, match="not gzip"):
        decode([gzip.compress(NDJSON) + b"<html>"])


def test_corrupt_deflate_data_is_reported():
    body = bytearray(gzip.compress(os.urandom(5000)))
    body[100:120] = b"\x00" * 20
    with pytest.raises((UnexpectedResponseError, TransientError)):
        decode([bytes(body)])


def test_empty_body_is_not_a_file():
    with pytest.raises(UnexpectedResponseError, match="empty"):
        decode([])


def test_last_line_without_newline_counts_and_is_visible():
    counter, _ = decode([gzip.compress(b'{"a":1}\n{"b":2')])
    assert counter.total_lines == 2
    assert not counter.ends_with_newline
    assert counter.unterminated_tail == b'{"b":2'


def test_a_gzip_bomb_is_decoded_in_bounded_slices():
    # 200 MB of zeros compress to ~200 KB; the decoder must never hand out more than 1 MiB at once
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    largest = 0

    class Sink(NdjsonCounter):
        def feed(self, data: bytes) -> None:
            nonlocal largest
            largest = max(largest, len(data))
            super().feed(data)

    sink = Sink()
    decoder = GzipMembersDecoder(sink)
    decoder.feed(bomb)
    decoder.finish()
    assert sink.bytes == 200 * 1024 * 1024
    assert largest <= 1 << 20


def test_a_member_ending_inside_a_bounded_slice_hands_over_the_rest_exactly_once():
    # 3 MB of incompressible data ends inside a 1 MiB output slice with two members after it
    first = os.urandom(3 * 1024 * 1024 + 17)
    counter, decoder = decode([gzip.compress(first) + gzip.compress(b"a\n") + gzip.compress(b"b\n")])
    assert (counter.bytes, decoder.members) == (len(first) + 4, 3)

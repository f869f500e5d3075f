"""cocotb equivalence of RecordCodec and model.record, under Verilator and Icarus.

Under Verilator (the default simulator) CI packs 1,000,000 random records and
unpacks as many words, in shards, each with the directed extremes; a shorter
run goes through Icarus.
"""

import pytest
from harness import run_cocotb, shards

from hw.record import RecordCodec

#: random records per CI run
RANDOM = shards(1_000_000, 2, 50_000)
TRANSACTIONS = sum(RANDOM)
ICARUS_RECORDS = 3_000


def harness_args(records: int) -> dict:
    """``run_cocotb`` arguments of this bench with ``records`` random records (and words)."""
    return dict(name="record_codec", top=RecordCodec, params={}, test_module="cocotb_record",
                bench_args={"transactions": records}, transactions=(records, "records"))


@pytest.mark.parametrize("records", RANDOM, ids=[f"shard{i}" for i in range(len(RANDOM))])
def test_record_codec_cocotb(records):
    run_cocotb(**harness_args(records))


def test_record_codec_cocotb_icarus():
    run_cocotb(**harness_args(ICARUS_RECORDS), simulator="icarus")


class SwappedTagCodec(RecordCodec):
    """A deliberately wrong codec: the low tag bit of the packed word is inverted."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        inverted = self.pack_tag ^ 1
        m.d.sync += self.packed_word.tag.eq(inverted)
        return m


def test_harness_reports_a_wrong_dut():
    with pytest.raises(AssertionError, match=r"cocotb tests failed; replay: DMAPREFETCH_SEED="):
        run_cocotb(
            name="record_codec_wrong",
            top=SwappedTagCodec,
            params={"defect": "tag bit 0 inverted"},
            test_module="cocotb_record",
            bench_args={"transactions": 50},
            simulator="icarus",
        )


def test_harness_reports_no_test_run():
    with pytest.raises(AssertionError):
        run_cocotb(
            name="record_codec",
            top=RecordCodec,
            params={},
            test_module="cocotb_record",
            bench_args={"transactions": 10},
            testcase="no_such_cocotb_test",
            simulator="icarus",
        )

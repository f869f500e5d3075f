"""cocotb equivalence of RecordCodec and model.record under Icarus."""

import pytest
from harness import run_cocotb

from hw.record import RecordCodec


def test_record_codec_cocotb():
    run_cocotb(
        name="record_codec",
        top=RecordCodec,
        params={},
        test_module="cocotb_record",
        bench_args={"transactions": 3000},
    )


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
        )

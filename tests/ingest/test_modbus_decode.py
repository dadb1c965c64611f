"""Modbus register decoding, read planning and configuration: pure, no sockets.

Known byte patterns for every type in every byte/word order, scale and offset, bits; plan()
merging adjacent and overlapping registers, splitting at gaps, tables and the per-request limits;
property tests that encoding with struct then decoding gives the value back and that plan() covers
every register exactly once within the limits; and configuration errors that name their field.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest.modbus.config import WORDS, ModbusConnectorConfig, ModbusDevice, Register
from ingest.modbus.decode import MAX_COUNT, ReadBlock, decode, plan

_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def reg(name: str = "r", table: str = "holding", address: int = 0, **extra) -> Register:
    return Register.model_validate({"name": name, "table": table, "address": address, **extra})


# decode: known patterns ------------------------------------------------------------------------

@pytest.mark.parametrize(("type_", "byte_order", "word_order", "words", "expected"), [
    # 16-bit: word order doesn't apply, byte order swaps the two bytes of the register
    ("uint16", "big", "big", [0x1234], 0x1234),
    ("uint16", "little", "big", [0x3412], 0x1234),
    ("uint16", "big", "little", [0x1234], 0x1234),
    ("int16", "big", "big", [0xFFFE], -2),
    ("int16", "little", "big", [0xFEFF], -2),
    ("int16", "big", "big", [0x8000], -32768),
    # 32-bit integers, value 0x12345678 / -2
    ("uint32", "big", "big", [0x1234, 0x5678], 0x12345678),
    ("uint32", "big", "little", [0x5678, 0x1234], 0x12345678),
    ("uint32", "little", "big", [0x3412, 0x7856], 0x12345678),
    ("uint32", "little", "little", [0x7856, 0x3412], 0x12345678),
    ("int32", "big", "big", [0xFFFF, 0xFFFE], -2),
    ("int32", "big", "little", [0xFFFE, 0xFFFF], -2),
    ("int32", "little", "big", [0xFFFF, 0xFEFF], -2),
    ("int32", "little", "little", [0xFEFF, 0xFFFF], -2),
    # float32 1.5 = 0x3FC00000
    ("float32", "big", "big", [0x3FC0, 0x0000], 1.5),
    ("float32", "big", "little", [0x0000, 0x3FC0], 1.5),
    ("float32", "little", "big", [0xC03F, 0x0000], 1.5),
    ("float32", "little", "little", [0x0000, 0xC03F], 1.5),
    # float64 -2.5 = 0xC004000000000000
    ("float64", "big", "big", [0xC004, 0, 0, 0], -2.5),
    ("float64", "big", "little", [0, 0, 0, 0xC004], -2.5),
    ("float64", "little", "big", [0x04C0, 0, 0, 0], -2.5),
    ("float64", "little", "little", [0, 0, 0, 0x04C0], -2.5),
])
def test_known_patterns(type_, byte_order, word_order, words, expected):
    register = reg(type=type_, byte_order=byte_order, word_order=word_order)
    value = decode(register, words, 0)
    assert value == expected
    assert isinstance(value, float)


def test_value_inside_a_block_is_found_by_its_address():
    register = reg(type="float32", address=103)
    assert decode(register, [0, 0, 0, 0x3FC0, 0x0000, 7], 100) == 1.5


def test_scale_and_offset():
    assert decode(reg(scale=0.1, offset=-40.0), [655], 0) == pytest.approx(25.5)
    assert decode(reg(type="int16", scale=2.0), [0xFFFF], 0) == -2.0
    assert decode(reg(type="float32", scale=10.0, offset=1.0), [0x3FC0, 0], 0) == 16.0


def test_bits():
    coil = reg(table="coil", address=5)
    assert coil.type == "bool"
    assert decode(coil, [False] * 5 + [True, False, False], 0) == 1.0
    assert decode(coil, [True] * 5 + [False, True, True], 0) == 0.0
    assert decode(reg(table="discrete", address=3), [False, False, False, True], 0) == 1.0
    # scale and offset don't apply to a bit
    assert decode(reg(table="coil", scale=10.0, offset=3.0), [True], 0) == 1.0


def test_short_data_names_the_register():
    with pytest.raises(ValueError, match=r"register pump_flow \(holding\[11\], float32\) needs 2 .* returned 2"):
        decode(reg("pump_flow", type="float32", address=11), [1, 2], 10)
    with pytest.raises(ValueError, match="pump_flow"):
        decode(reg("pump_flow", address=9), [1, 2], 10)  # before the block's start
    with pytest.raises(ValueError, match="door_open"):
        decode(reg("door_open", table="coil", address=8), [True] * 8, 0)


# decode: properties --------------------------------------------------------------------------

def _encode(type_: str, value, byte_order: str, word_order: str) -> list[int]:
    raw = struct.pack(">" + _FORMATS[type_], value)
    words = [int.from_bytes(raw[i:i + 2], byte_order) for i in range(0, len(raw), 2)]
    return words[::-1] if word_order == "little" else words


_VALUES = {
    "int16": st.integers(-2**15, 2**15 - 1), "uint16": st.integers(0, 2**16 - 1),
    "int32": st.integers(-2**31, 2**31 - 1), "uint32": st.integers(0, 2**32 - 1),
    "float32": st.floats(width=32, allow_nan=False), "float64": st.floats(allow_nan=False),
}


@st.composite
def _encoded(draw):
    type_ = draw(st.sampled_from(sorted(_VALUES)))
    value = draw(_VALUES[type_])
    byte_order, word_order = draw(st.sampled_from(["big", "little"])), draw(st.sampled_from(["big", "little"]))
    padding = draw(st.integers(0, 3))
    return type_, value, byte_order, word_order, padding


@settings(max_examples=300, deadline=None)
@given(_encoded())
def test_encode_then_decode_gives_the_value(case):
    type_, value, byte_order, word_order, padding = case
    register = reg(type=type_, byte_order=byte_order, word_order=word_order, address=100 + padding)
    words = [0xAAAA] * padding + _encode(type_, value, byte_order, word_order) + [0x5555]
    assert decode(register, words, 100) == value


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
       st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
       st.integers(0, 2**16 - 1))
def test_scale_and_offset_apply_to_the_raw_value(scale, offset, raw):
    assert decode(reg(scale=scale, offset=offset), [raw], 0) == raw * scale + offset


def test_nan_is_passed_through_for_the_connector_to_skip():
    assert math.isnan(decode(reg(type="float32"), [0x7FC0, 0], 0))


# plan ----------------------------------------------------------------------------------------

def _spans(blocks: list[ReadBlock]) -> list[tuple[str, int, int, list[str]]]:
    return [(b.table, b.start, b.count, [r.name for r in b.registers]) for b in blocks]


def test_adjacent_registers_merge():
    registers = [reg("a", address=0), reg("b", type="float32", address=1), reg("c", type="float64", address=3)]
    assert _spans(plan(registers)) == [("holding", 0, 7, ["a", "b", "c"])]


def test_overlapping_registers_merge_and_order_does_not_matter():
    registers = [reg("whole", type="uint32", address=10), reg("low", address=11), reg("high", address=10)]
    assert _spans(plan(registers)) == [("holding", 10, 2, ["high", "whole", "low"])]


def test_a_gap_splits_unless_allowed():
    registers = [reg("a", address=0), reg("b", address=2), reg("c", address=10)]
    assert _spans(plan(registers)) == [("holding", 0, 1, ["a"]), ("holding", 2, 1, ["b"]),
                                       ("holding", 10, 1, ["c"])]
    assert _spans(plan(registers, max_gap=1)) == [("holding", 0, 3, ["a", "b"]), ("holding", 10, 1, ["c"])]
    assert _spans(plan(registers, max_gap=7)) == [("holding", 0, 11, ["a", "b", "c"])]
    with pytest.raises(ValueError, match="max_gap"):
        plan(registers, max_gap=-1)


def test_tables_are_read_separately():
    registers = [reg("h", address=0), reg("i", table="input", address=1), reg("c", table="coil", address=2),
                 reg("d", table="discrete", address=3), reg("i0", table="input", address=0)]
    assert _spans(plan(registers)) == [("holding", 0, 1, ["h"]), ("input", 0, 2, ["i0", "i"]),
                                       ("coil", 2, 1, ["c"]), ("discrete", 3, 1, ["d"])]


def test_the_125_register_limit():
    registers = [reg(f"r{i}", address=i) for i in range(300)]
    blocks = plan(registers)
    assert [(b.start, b.count) for b in blocks] == [(0, 125), (125, 125), (250, 50)]
    # a float32 that would straddle the limit starts the next block
    registers = [reg(f"r{i}", address=i) for i in range(124)] + [reg("f", type="float32", address=124)]
    assert [(b.start, b.count) for b in plan(registers)] == [(0, 124), (124, 2)]


def test_the_2000_bit_limit():
    registers = [reg(f"c{i}", table="coil", address=i) for i in range(4500)]
    assert [(b.start, b.count) for b in plan(registers)] == [(0, 2000), (2000, 2000), (4000, 500)]


def test_block_names_its_range():
    assert str(plan([reg("a", address=100, type="float64"), reg("b", address=104)])[0]) == "holding[100..104]"


_TYPES = sorted(WORDS)


@st.composite
def _registers(draw):
    count = draw(st.integers(1, 60))
    registers = []
    for i in range(count):
        table = draw(st.sampled_from(["holding", "input", "coil", "discrete"]))
        type_ = "bool" if table in ("coil", "discrete") else draw(st.sampled_from([t for t in _TYPES if t != "bool"]))
        address = draw(st.integers(0, 65536 - WORDS[type_]))
        address = draw(st.sampled_from([address, address % 400]))  # many close together too
        registers.append(reg(f"r{i}", table=table, type=type_, address=address))
    return registers


@settings(max_examples=200, deadline=None)
@given(_registers(), st.integers(0, 5))
def test_plan_covers_every_register_once_within_the_limits(registers, max_gap):
    blocks = plan(registers, max_gap=max_gap)
    served = [r.name for b in blocks for r in b.registers]
    assert sorted(served) == sorted(r.name for r in registers)
    for block in blocks:
        assert 1 <= block.count <= MAX_COUNT[block.table]
        assert block.start >= 0 and block.end <= 65535
        for register in block.registers:
            assert register.table == block.table
            assert block.start <= register.address and register.address + register.words - 1 <= block.end
    # every block is needed: no two blocks of a table could have been one read
    for a, b in zip(blocks, blocks[1:]):
        if a.table == b.table:
            first_end = b.start + b.registers[0].words  # b's first register: the one that couldn't join a
            assert b.start > a.end + 1 + max_gap or max(a.end + 1, first_end) - a.start > MAX_COUNT[a.table]


# configuration -------------------------------------------------------------------------------

def device(**extra) -> dict:
    return {"name": "pump-1", "host": "10.0.0.5", "registers": [{"name": "pump_speed", "table": "holding",
                                                                 "address": 0}], **extra}


def connector(*devices: dict, **extra) -> dict:
    return {"type": "modbus", "name": "plant", "devices": list(devices) or [device()], **extra}


def _errors(model, data) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_defaults():
    config = ModbusConnectorConfig.model_validate(connector(device(interval="500ms", timeout="200ms")))
    pump = config.devices[0]
    assert (pump.port, pump.unit_id, pump.retries, pump.interval, pump.timeout) == (502, 1, 2, 0.5, 0.2)
    register = pump.registers[0]
    assert (register.type, register.byte_order, register.word_order, register.scale, register.offset,
            register.unit) == ("uint16", "big", "big", 1.0, 0.0, "")
    plain = ModbusDevice.model_validate(device())
    assert (plain.interval, plain.timeout) == (10.0, 2.0)


def test_wrong_types_name_the_field():
    assert _errors(ModbusDevice, device(port="http"))[0][0] == ("port",)
    assert _errors(ModbusDevice, device(unit_id=248))[0][0] == ("unit_id",)
    assert _errors(ModbusDevice, device(interval="soon"))[0] == (("interval",), "Value error, 'soon' is not a "
                                                                               "duration like 15s, 1m or 500ms")
    loc, msg = _errors(Register, {"name": "x", "table": "holding", "address": 0, "type": "int64"})[0]
    assert loc == ("type",) and "'int16', 'uint16'" in msg
    loc, msg = _errors(Register, {"name": "x", "table": "memory", "address": 0})[0]
    assert loc == ("table",) and "'holding', 'input', 'coil' or 'discrete'" in msg
    assert _errors(Register, {"name": "x", "table": "holding", "address": 65536})[0][0] == ("address",)
    loc, msg = _errors(Register, {"name": "2fast", "table": "holding", "address": 0})[0]
    assert loc == ("name",) and "pattern" in msg
    loc, _ = _errors(ModbusConnectorConfig, connector(device(registers=[{"name": "x", "table": "holding",
                                                                           "address": "ten"}])))[0]
    assert loc == ("devices", 0, "registers", 0, "address")


def test_unknown_field():
    loc, msg = _errors(ModbusDevice, device(slave_id=3))[0]
    assert loc == ("slave_id",) and msg == "Extra inputs are not permitted"
    loc, _ = _errors(Register, {"name": "x", "table": "holding", "address": 0, "endian": "big"})[0]
    assert loc == ("endian",)


def test_duplicate_names():
    loc, msg = _errors(ModbusDevice, device(registers=[{"name": "a", "table": "holding", "address": 0},
                                                       {"name": "a", "table": "input", "address": 0}]))[0]
    assert loc == ("registers",) and "used twice: a" in msg
    loc, msg = _errors(ModbusConnectorConfig, connector(device(), device()))[0]
    assert loc == ("devices",) and "used twice: pump-1" in msg


def test_bool_only_on_bits_and_bits_only_bool():
    loc, msg = _errors(Register, {"name": "x", "table": "holding", "address": 0, "type": "bool"})[0]
    assert loc == ("type",) and "bool is only for coil and discrete" in msg
    loc, msg = _errors(Register, {"name": "x", "table": "coil", "address": 0, "type": "uint16"})[0]
    assert loc == ("type",) and "type must be bool" in msg
    assert reg(table="discrete", type="bool").type == "bool"


def test_value_must_fit_the_address_space():
    assert reg(type="float64", address=65532).address == 65532
    loc, msg = _errors(Register, {"name": "x", "table": "holding", "address": 65533, "type": "float64"})[0]
    assert loc == ("address",) and "needs 4 registers" in msg
    assert reg(table="coil", address=65535).address == 65535


def test_timeout_must_be_shorter_than_interval():
    loc, msg = _errors(ModbusDevice, device(interval="1s", timeout="1s"))[0]
    assert loc == ("timeout",) and "shorter than interval (1s)" in msg
    assert _errors(ModbusDevice, device(timeout="15s"))[0][0] == ("timeout",)  # default interval 10s


def test_needs_devices_and_registers():
    assert _errors(ModbusDevice, device(registers=[]))[0][0] == ("registers",)
    assert _errors(ModbusConnectorConfig, connector(devices=[]))[0][0] == ("devices",)
    assert _errors(ModbusConnectorConfig, {"type": "modbus", "name": "bad name!", "devices": [device()]})[0][0] == (
        "name",)


def test_one_bad_register_is_one_error():
    errors = _errors(ModbusConnectorConfig, connector(device(registers=[{"name": "x", "table": "holding",
                                                                         "address": 0, "type": "bool"}])))
    assert [loc for loc, _ in errors] == [("devices", 0, "registers", 0, "type")]

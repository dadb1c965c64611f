"""Registers → read requests and raw words → numbers: pure, no I/O.

`plan` groups a device's registers into as few reads as the protocol allows; `decode` turns the
16-bit words (or bits) a read returned into one register's value.

Modbus Application Protocol V1.1b3 https://modbus.org/docs/Modbus_Application_Protocol_V1_1b3.pdf
  §6.1 Read Coils (0x01) and §6.2 Read Discrete Inputs (0x02): 1..2000 bits per request
  §6.3 Read Holding Registers (0x03) and §6.4 Read Input Registers (0x04): 1..125 registers per request
  §4.2 "MODBUS uses a big-Endian representation for addresses and data items": each register goes on
  the wire most significant byte first, which is how pymodbus hands it over (an int 0..65535 in
  `response.registers`; https://pymodbus.readthedocs.io/en/latest/source/client.html).
The protocol says nothing about values wider than 16 bits: devices put a 32/64-bit value in
consecutive registers, most significant register first ("big" word order, e.g. float32 1.5 =
0x3FC0 0x0000) or last ("little", 0x0000 0x3FC0), and some also swap the two bytes inside each
register ("little" byte order, 0xC03F 0x0000). `byte_order` and `word_order` say which.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.modbus.config import Register

# Most values per request (§6.1-6.4): 125 registers fill the 250-byte data field of a 253-byte PDU.
MAX_COUNT = {"holding": 125, "input": 125, "coil": 2000, "discrete": 2000}
FUNCTION_CODE = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_FORMAT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers (or bits) of `table` from `start`, and the registers it serves."""

    table: str
    start: int
    count: int
    registers: tuple[Register, ...]

    @property
    def end(self) -> int:
        """The last address read (inclusive)."""
        return self.start + self.count - 1

    def __str__(self) -> str:
        return f"{self.table}[{self.start}..{self.end}]"


def plan(registers: Iterable[Register], max_gap: int = 0) -> list[ReadBlock]:
    """As few reads as cover every register once: per table, by address, merged while they touch.

    Merge rule: a register joins the current block of its table when it starts no more than
    `max_gap` addresses after the block's end — with the default 0 only adjacent or overlapping
    registers merge — and the merged block stays within the table's per-request limit (125
    registers, 2000 bits). The connector keeps max_gap 0: reading the unconfigured addresses of a
    gap can hit ones the device doesn't map, and then the whole block fails with an illegal-address
    exception. Scanning registers sorted by address and starting a block only when the next one
    can't join gives the fewest blocks (no register spans more than 4 words, far below the limit).
    Blocks come back ordered by table (holding, input, coil, discrete) and start address.
    """
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    registers = list(registers)
    blocks: list[ReadBlock] = []
    for table in MAX_COUNT:
        limit = MAX_COUNT[table]
        start = end = -1  # end: one past the last address of the open block
        members: list[Register] = []
        for register in sorted((r for r in registers if r.table == table), key=lambda r: (r.address, r.words)):
            register_end = register.address + register.words
            if members and register.address <= end + max_gap and max(end, register_end) - start <= limit:
                end = max(end, register_end)
                members.append(register)
                continue
            if members:
                blocks.append(ReadBlock(table, start, end - start, tuple(members)))
            start, end, members = register.address, register_end, [register]
        if members:
            blocks.append(ReadBlock(table, start, end - start, tuple(members)))
    return blocks


def decode(register: Register, words_or_bits: Sequence[int] | Sequence[bool], block_start: int) -> float:
    """The value of `register` from what a read starting at `block_start` returned: scaled and offset,
    or 0.0/1.0 for a bool (scale and offset don't apply to a bit).

    Raises ValueError naming the register when the read returned too little for it.
    """
    first = register.address - block_start
    if first < 0 or first + register.words > len(words_or_bits):
        raise ValueError(f"register {register.name} ({register.table}[{register.address}], {register.type}) "
                         f"needs {register.words} value(s) from offset {first} but the read from {block_start} "
                         f"returned {len(words_or_bits)}")
    if register.type == "bool":
        return 1.0 if words_or_bits[first] else 0.0
    words = list(words_or_bits[first:first + register.words])
    if register.word_order == "little":  # least significant register first on the device
        words.reverse()
    # Each word as the device laid out its two bytes, then the whole value read big-endian.
    raw = b"".join(int(w).to_bytes(2, register.byte_order) for w in words)
    return struct.unpack(">" + _FORMAT[register.type], raw)[0] * register.scale + register.offset

#!/usr/bin/env python3
"""Writes LVM2 PV and MD RAID superblocks into an image file, from the
on-disk format descriptions (their tools need real block devices).

usage: mkheaders.py lvm2|md0.90|md1.0|md1.1|md1.2 IMAGE
"""
import os
import struct
import sys
import uuid
import zlib


def lvm_crc(data, initial=0xF597A6CF):
    # LVM's calc_crc: reflected CRC32 (IEEE), seeded, no final inversion.
    return ~zlib.crc32(data, ~initial & 0xFFFFFFFF) & 0xFFFFFFFF


def lvm2(f, size):
    sector = bytearray(512)
    sector[0:8] = b"LABELONE"
    struct.pack_into("<QII", sector, 8, 1, 0, 32)  # sector_xl, crc_xl, offset_xl
    sector[24:32] = b"LVM2 001"
    sector[32:64] = b"Xy1AbCdEfGhIjKlMnOpQrStUvWxYz012"  # pv_uuid (32 chars)
    struct.pack_into("<Q", sector, 64, size)  # device_size_xl
    struct.pack_into("<QQQQ", sector, 72, 1 << 20, 0, 0, 0)  # data area, end
    struct.pack_into("<QQQQ", sector, 104, 4096, (1 << 20) - 4096, 0, 0)  # metadata area, end
    struct.pack_into("<I", sector, 16, lvm_crc(bytes(sector[20:])))
    f.seek(512)
    f.write(sector)


MD_MAGIC = 0xA92B4EFC
SET_UUID = uuid.UUID("d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6").bytes
DEV_UUID = uuid.UUID("01234567-89ab-4cde-8f01-23456789abcd").bytes


def md1(f, size, minor):
    sectors = size // 512
    off = {0: ((sectors - 16) & ~7), 1: 0, 2: 8}[minor]
    max_dev = 384
    sb = bytearray(256 + max_dev * 2)
    struct.pack_into("<III", sb, 0, MD_MAGIC, 1, 0)  # magic, major, feature_map
    sb[16:32] = SET_UUID
    sb[32:64] = (b"earlyroot:md1%d" % minor).ljust(32, b"\0")
    struct.pack_into("<QiI", sb, 64, 1700000000, 1, 0)  # ctime, level, layout
    struct.pack_into("<QII", sb, 80, 1024, 0, 2)  # size, chunksize, raid_disks
    data_offset = 0 if minor == 0 else 2048
    struct.pack_into("<QQQ", sb, 128, data_offset, 1024, off)  # data_offset, data_size, super_offset
    struct.pack_into("<I", sb, 160, 0)  # dev_number
    sb[168:184] = DEV_UUID
    struct.pack_into("<QQQ", sb, 192, 1700000000, 1, 0xFFFFFFFFFFFFFFFF)  # utime, events, resync
    struct.pack_into("<I", sb, 220, max_dev)
    for i in range(max_dev):
        struct.pack_into("<H", sb, 256 + 2 * i, i if i < 2 else 0xFFFF)
    total = 0
    for i in range(0, len(sb), 4):
        total += struct.unpack_from("<I", sb, i)[0]
    struct.pack_into("<I", sb, 216, ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF)
    f.seek(off * 512)
    f.write(sb)


def md090(f, size):
    off = (size & ~0xFFFF) - 0x10000
    sb = bytearray(4096)
    u = SET_UUID
    struct.pack_into("<IIIII", sb, 0, MD_MAGIC, 0, 90, 0, 0)
    sb[20:24] = u[0:4]
    struct.pack_into("<IiIIIII", sb, 24, 1700000000, 1, 512, 2, 2, 0, 0)
    sb[52:64] = u[4:16]
    f.seek(off)
    f.write(sb)


def main():
    kind, path = sys.argv[1], sys.argv[2]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        if kind == "lvm2":
            lvm2(f, size)
        elif kind == "md0.90":
            md090(f, size)
        elif kind.startswith("md1."):
            md1(f, size, int(kind[4:]))
        else:
            sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes LVM2 PV and MD RAID superblocks into an image file, from the
on-disk format descriptions (their tools need real block devices).

usage: mkheaders.py lvm2|md0.90|md1.0|md1.1|md1.2 IMAGE
       mkheaders.py gpt4k IMAGE EXPECTED.json

gpt4k writes a GPT for 4096-byte logical sectors (sfdisk 2.38 cannot make one
in a file) and the matching `sfdisk -J`-style description.
"""
import json
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
    # sb_csum (word 38): the 32-bit sum of the 4096-byte superblock's words, carry folded
    # in, taken with the checksum itself zero; the kernel and mdadm refuse a wrong one.
    total = 0
    for i in range(0, len(sb), 4):
        total += struct.unpack_from("<I", sb, i)[0]
    struct.pack_into("<I", sb, 38 * 4, ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF)
    f.seek(off)
    f.write(sb)


def guid_bytes(s):
    return uuid.UUID(s).bytes_le


GPT4K_DISK = "0E8F1C5A-4096-4B5B-9B0E-0123456789AB"
GPT4K_PARTS = [
    # number, start, size (4 KiB sectors), type, uuid, name
    (1, 256, 256, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "12111111-2222-4333-8444-555555555555", "ESP"),
    (2, 512, 1024, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "22111111-2222-4333-8444-555555555555", "root x86-64"),
    (5, 2048, 64, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "52111111-2222-4333-8444-555555555555", "swap \u00e9t\u00e9"),
]


def gpt4k(f, size, expected):
    ss = 4096
    last = size // ss - 1
    nent, esize = 128, 128
    ents = bytearray(nent * esize)
    for num, start, count, typ, uid, name in GPT4K_PARTS:
        e = memoryview(ents)[(num - 1) * esize:num * esize]
        e[0:16] = guid_bytes(typ)
        e[16:32] = guid_bytes(uid)
        struct.pack_into("<QQQ", e, 32, start, start + count - 1, 0)
        n = name.encode("utf-16-le")
        e[56:56 + len(n)] = n
    ent_lbas = len(ents) // ss
    first_usable, last_usable = 2 + ent_lbas, last - 1 - ent_lbas

    def header(my, alt, ent_lba):
        h = bytearray(92)
        h[0:8] = b"EFI PART"
        struct.pack_into("<IIII", h, 8, 0x00010000, 92, 0, 0)
        struct.pack_into("<QQQQ", h, 24, my, alt, first_usable, last_usable)
        h[56:72] = guid_bytes(GPT4K_DISK)
        struct.pack_into("<QIII", h, 72, ent_lba, nent, esize, zlib.crc32(ents))
        struct.pack_into("<I", h, 16, zlib.crc32(h))
        return h

    mbr = bytearray(512)
    struct.pack_into("<B3sB3sII", mbr, 446, 0, b"\0\2\0", 0xEE, b"\xff\xff\xff", 1, min(last, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    f.seek(0)
    f.write(mbr)
    f.seek(ss)
    f.write(header(1, last, 2))
    f.seek(2 * ss)
    f.write(ents)
    f.seek((last - ent_lbas) * ss)
    f.write(ents)
    f.seek(last * ss)
    f.write(header(last, 1, last - ent_lbas))
    parts = [{"node": "gpt4k%d" % num, "start": start, "size": count, "type": typ, "uuid": uid, "name": name}
             for num, start, count, typ, uid, name in GPT4K_PARTS]
    with open(expected, "w") as out:
        json.dump({"partitiontable": {"label": "gpt", "id": GPT4K_DISK, "unit": "sectors", "firstlba": first_usable,
                                      "lastlba": last_usable, "sectorsize": ss, "partitions": parts}},
                  out, indent=3, ensure_ascii=False)
        out.write("\n")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        if kind == "lvm2":
            lvm2(f, size)
        elif kind == "md0.90":
            md090(f, size)
        elif kind == "gpt4k":
            gpt4k(f, size, sys.argv[3])
        elif kind.startswith("md1."):
            md1(f, size, int(kind[4:]))
        else:
            sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()

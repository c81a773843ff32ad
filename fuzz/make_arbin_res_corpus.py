#!/usr/bin/env python3
"""Writes the seeds of fuzz/corpus/arbin_res/ (fuzz/fuzz_arbin_res.c): small made-up inputs for the Arbin .res
reader (src/data/cycler_arbin_res.c). No real file is copied: a Jet 4 database header page (its encrypted
block made so that it decrypts to zeros: no database key) followed by empty pages, which libmdb opens and then
fails to find its catalog in, and a text file named .res. Running scripts/fuzz.sh with the real files of
../shared/data/cyclers-more/arbin/ as a further corpus folder (FUZZ_ARGS, see the README's fuzzing section)
reaches the table reader; they are not committed here.

    python3 fuzz/make_arbin_res_corpus.py"""
import os
import shutil
import struct

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz", "corpus", "arbin_res")
PAGE = 4096


def rc4_keystream(key, n):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for _ in range(n):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(s[(s[i] + s[j]) % 256])
    return bytes(out)


def jet4(n_pages, version=1):
    p0 = bytearray(PAGE)
    p0[0:4] = b"\x00\x01\x00\x00"
    p0[4:20] = b"Standard Jet DB\x00"
    p0[0x14:0x18] = struct.pack("<I", version)
    # the 128 bytes from 0x18 are RC4-encrypted with the fixed key 0x6b39dac7: the keystream itself decrypts to 0
    p0[0x18:0x18 + 128] = rc4_keystream(struct.pack("<I", 0x6B39DAC7), 128)
    return bytes(p0) + bytes(PAGE * (n_pages - 1))


def put(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    put("jet4-empty-forced-summary", bytes([3]) + jet4(4))
    put("jet4-empty-auto", bytes([0]) + jet4(3))
    put("jet3-empty-forced", bytes([1]) + jet4(3, version=0)[:2048 * 3])
    put("not-res", bytes([1]) + b"Test_ID,Data_Point,Test_Time\n1,1,0.5\n")
    print("arbin_res %d seeds" % len(os.listdir(OUT)))


if __name__ == "__main__":
    main()

//go:build !purego

#include "textflag.h"

// The scan's constants, one byte repeated over 32. XOR with 0x7d sends
// the control bytes 0x00-0x1f to 0x60-0x7f and '"' (0x22) to 0x5f, the
// highest values as signed bytes, while every other byte below 0x80 lands
// on 0x00-0x5e and every byte from 0x80 stays negative. One signed
// compare with 0x5e then finds control bytes and quotes together, and a
// second one finds '\\' (0x5c) before the XOR.
DATA flip<>+0(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA flip<>+8(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA flip<>+16(SB)/8, $0x7d7d7d7d7d7d7d7d
DATA flip<>+24(SB)/8, $0x7d7d7d7d7d7d7d7d
GLOBL flip<>(SB), RODATA|NOPTR, $32

DATA below<>+0(SB)/8, $0x5e5e5e5e5e5e5e5e
DATA below<>+8(SB)/8, $0x5e5e5e5e5e5e5e5e
DATA below<>+16(SB)/8, $0x5e5e5e5e5e5e5e5e
DATA below<>+24(SB)/8, $0x5e5e5e5e5e5e5e5e
GLOBL below<>(SB), RODATA|NOPTR, $32

DATA backslash<>+0(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslash<>+8(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslash<>+16(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslash<>+24(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL backslash<>(SB), RODATA|NOPTR, $32

// STOPS32 sets bit k of dst for each stop at byte k of the 32 bytes at
// src, using Y5 and Y6.
#define STOPS32(src, dst) \
	VMOVDQU   src, Y5             \
	VPXOR     flip<>(SB), Y5, Y6  \
	VPCMPGTB  below<>(SB), Y6, Y6 \
	VPCMPEQB  backslash<>(SB), Y5, Y5 \
	VPOR      Y5, Y6, Y5          \
	VPMOVMSKB Y5, dst

// STOPS16 is STOPS32 for 16 bytes, using X5 and X6.
#define STOPS16(src, dst) \
	VMOVDQU   src, X5             \
	VPXOR     flip<>(SB), X5, X6  \
	VPCMPGTB  below<>(SB), X6, X6 \
	VPCMPEQB  backslash<>(SB), X5, X5 \
	VPOR      X5, X6, X5          \
	VPMOVMSKB X5, dst

// func stopAVX2(b []byte) int
//
// Without AVX2 it hands b to stopGeneric. With it: at least 32 bytes go
// in 32-byte blocks, the last one ending where b ends and overlapping
// bytes already read; 16 to 31 bytes in two 16-byte blocks, the same way;
// fewer byte by byte. No load reaches outside b.
TEXT ·stopAVX2(SB), NOSPLIT, $0-32
	CMPB ·useAVX2(SB), $0
	JEQ  generic
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	CMPQ BX, $32
	JB   short

	// Most runs end within the first block: its answer needs no offset.
	STOPS32((SI), AX)
	TESTL AX, AX
	JZ    blocks
	VZEROUPPER
	BSFL  AX, AX
	MOVQ  AX, ret+24(FP)
	RET

blocks:
	MOVQ SI, DI
	LEAQ -32(SI)(BX*1), R8
	ADDQ $32, SI
	CMPQ SI, R8
	JAE  last

loop:
	STOPS32((SI), AX)
	TESTL AX, AX
	JNZ   found
	ADDQ  $32, SI
	CMPQ  SI, R8
	JB    loop

last:
	// The bytes this block shares with the previous ones hold no stop,
	// so its first stop is b's.
	MOVQ R8, SI
	STOPS32((SI), AX)
	VZEROUPPER
	TESTL AX, AX
	JNZ   foundUpper
	MOVQ  BX, ret+24(FP)
	RET

found:
	VZEROUPPER

foundUpper:
	BSFL AX, AX
	SUBQ DI, SI
	ADDQ AX, SI
	MOVQ SI, ret+24(FP)
	RET

short:
	CMPQ BX, $16
	JB   tiny

	// Bit k of the first block's mask is byte k; the second block starts
	// at len-16, so its mask moves up by as much. Where they overlap the
	// bits agree.
	STOPS16((SI), AX)
	STOPS16(-16(SI)(BX*1), DX)
	LEAQ -16(BX), CX
	SHLL CX, DX
	ORL  DX, AX
	JZ   none
	BSFL AX, AX
	MOVQ AX, ret+24(FP)
	RET

tiny:
	MOVQ SI, DI
	LEAQ (SI)(BX*1), DX
	CMPQ SI, DX
	JEQ  none

tinyloop:
	MOVBLZX (SI), AX
	CMPL    AX, $0x22
	JEQ     tinyfound
	CMPL    AX, $0x5c
	JEQ     tinyfound
	CMPL    AX, $0x20
	JB      tinyfound
	INCQ    SI
	CMPQ    SI, DX
	JB      tinyloop

none:
	MOVQ BX, ret+24(FP)
	RET

tinyfound:
	SUBQ DI, SI
	MOVQ SI, ret+24(FP)
	RET

generic:
	JMP ·stopGeneric(SB)

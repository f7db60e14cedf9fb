//go:build !purego

#include "textflag.h"

// hashBlocksBMI2 is SHA-256 on general-purpose registers, for CPUs without SHA-NI. It
// needs BMI2 only for RORXL, a rotate into another register that leaves the flags alone.
//
// Registers: the state a..h is in AX, BX, CX, DX, R8, R9, R10, R11 at round 0; each round
// renames them instead of moving them (the new a is the register that held h, the new e
// the one that held d), so after 8 rounds the names are back in place and a loop can run 8
// rounds per pass. SI and DI are temporaries. R12 and R14 take turns holding b^c for Maj:
// a round computes a^b, which is the next round's b^c. R13 points at the W and K words of
// the current 8 rounds. BP and R15 are not used.
//
// The loop of the rounds is short enough to run from the decoded-instruction cache; an
// unrolled 64 rounds is not, and then instruction decoding limits the speed.
//
// Frame: W0..W63 (the message schedule), then K0..K63 (copied here so that one register
// addresses both), the state to add back after the rounds, p, the blocks left and the
// chain steps left.
#define FRAME_W 0
#define FRAME_K 256
#define FRAME_H 512
#define FRAME_P 544
#define FRAME_NBLOCKS 552
#define FRAME_EXTRA 560

// LOAD stores message word i, read big-endian from SI, as W[i].
#define LOAD(i) \
	MOVL   (i*4)(SI), DI; \
	BSWAPL DI; \
	MOVL   DI, (FRAME_W+i*4)(SP)

// SCHEDULE computes W[i+16] = σ1(W[i+14]) + W[i+9] + σ0(W[i+1]) + W[i], with
// σ1(x) = ror17(x ^ ror2(x)) ^ x>>10 and σ0(x) = ror7(x ^ ror11(x)) ^ x>>3, the words
// relative to R13. It uses SI, DI and t.
#define SCHEDULE(i, t) \
	MOVL  (FRAME_W+(i+14)*4)(R13), SI; \
	RORXL $2, SI, DI; \
	XORL  SI, DI; \
	RORXL $17, DI, DI; \
	SHRL  $10, SI; \
	XORL  SI, DI; \
	ADDL  (FRAME_W+(i+9)*4)(R13), DI; \
	ADDL  (FRAME_W+i*4)(R13), DI; \
	MOVL  (FRAME_W+(i+1)*4)(R13), SI; \
	RORXL $11, SI, t; \
	XORL  SI, t; \
	RORXL $7, t, t; \
	SHRL  $3, SI; \
	XORL  SI, t; \
	ADDL  t, DI; \
	MOVL  DI, (FRAME_W+(i+16)*4)(R13)

// ROUND runs round i (relative to R13): T1 = h + Σ1(e) + Ch(e,f,g) + K[i] + W[i],
// d += T1, h = T1 + Σ0(a) + Maj(a,b,c). The caller renames the registers for the next
// round. Ch(e,f,g) = ((f^g)&e)^g; Maj(a,b,c) = ((a^b)&(b^c))^b, with b^c in bc on entry
// and a^b left in ab for the next round.
#define ROUND(i, a, b, c, d, e, f, g, h, ab, bc) \
	ADDL  (FRAME_W+i*4)(R13), h; \
	ADDL  (FRAME_K+i*4)(R13), h; \
	MOVL  f, SI; \
	XORL  g, SI; \
	ANDL  e, SI; \
	XORL  g, SI; \
	ADDL  SI, h; \
	RORXL $6, e, SI; \
	RORXL $11, e, DI; \
	XORL  DI, SI; \
	RORXL $25, e, DI; \
	XORL  DI, SI; \
	ADDL  SI, h; \
	ADDL  h, d; \
	RORXL $2, a, SI; \
	RORXL $13, a, DI; \
	XORL  DI, SI; \
	RORXL $22, a, DI; \
	XORL  DI, SI; \
	ADDL  SI, h; \
	MOVL  a, ab; \
	XORL  b, ab; \
	ANDL  ab, bc; \
	XORL  b, bc; \
	ADDL  bc, h

// func hashBlocksBMI2(out *[32]byte, p *byte, nblocks int, extra int)
TEXT ·hashBlocksBMI2(SB), 0, $568-32
	MOVQ p+8(FP), SI
	MOVQ SI, FRAME_P(SP)
	MOVQ nblocks+16(FP), SI
	MOVQ SI, FRAME_NBLOCKS(SP)
	MOVQ extra+24(FP), SI
	MOVQ SI, FRAME_EXTRA(SP)
	LEAQ roundK<>(SB), SI
	MOVOU 0(SI), X0
	MOVOU X0, FRAME_K+0(SP)
	MOVOU 16(SI), X0
	MOVOU X0, FRAME_K+16(SP)
	MOVOU 32(SI), X0
	MOVOU X0, FRAME_K+32(SP)
	MOVOU 48(SI), X0
	MOVOU X0, FRAME_K+48(SP)
	MOVOU 64(SI), X0
	MOVOU X0, FRAME_K+64(SP)
	MOVOU 80(SI), X0
	MOVOU X0, FRAME_K+80(SP)
	MOVOU 96(SI), X0
	MOVOU X0, FRAME_K+96(SP)
	MOVOU 112(SI), X0
	MOVOU X0, FRAME_K+112(SP)
	MOVOU 128(SI), X0
	MOVOU X0, FRAME_K+128(SP)
	MOVOU 144(SI), X0
	MOVOU X0, FRAME_K+144(SP)
	MOVOU 160(SI), X0
	MOVOU X0, FRAME_K+160(SP)
	MOVOU 176(SI), X0
	MOVOU X0, FRAME_K+176(SP)
	MOVOU 192(SI), X0
	MOVOU X0, FRAME_K+192(SP)
	MOVOU 208(SI), X0
	MOVOU X0, FRAME_K+208(SP)
	MOVOU 224(SI), X0
	MOVOU X0, FRAME_K+224(SP)
	MOVOU 240(SI), X0
	MOVOU X0, FRAME_K+240(SP)
	MOVL $0x6a09e667, AX
	MOVL $0xbb67ae85, BX
	MOVL $0x3c6ef372, CX
	MOVL $0xa54ff53a, DX
	MOVL $0x510e527f, R8
	MOVL $0x9b05688c, R9
	MOVL $0x1f83d9ab, R10
	MOVL $0x5be0cd19, R11

	// Each pass compresses one block: the next of the message while nblocks > 0, then
	// the padded digest while extra > 0.
loop:
	CMPQ FRAME_NBLOCKS(SP), $0
	JLE  chainStep
	DECQ FRAME_NBLOCKS(SP)
	MOVQ FRAME_P(SP), SI
	LOAD(0)
	LOAD(1)
	LOAD(2)
	LOAD(3)
	LOAD(4)
	LOAD(5)
	LOAD(6)
	LOAD(7)
	LOAD(8)
	LOAD(9)
	LOAD(10)
	LOAD(11)
	LOAD(12)
	LOAD(13)
	LOAD(14)
	LOAD(15)
	ADDQ $64, SI
	MOVQ SI, FRAME_P(SP)
	JMP  compress

chainStep:
	CMPQ FRAME_EXTRA(SP), $0
	JLE  output
	DECQ FRAME_EXTRA(SP)

	// The message is the digest a..h, 0x80 and the bit length 256; the state restarts
	// from the IV.
	MOVL AX, 0(SP)
	MOVL BX, 4(SP)
	MOVL CX, 8(SP)
	MOVL DX, 12(SP)
	MOVL R8, 16(SP)
	MOVL R9, 20(SP)
	MOVL R10, 24(SP)
	MOVL R11, 28(SP)
	MOVL $0x80000000, 32(SP)
	MOVL $0x00000000, 36(SP)
	MOVL $0x00000000, 40(SP)
	MOVL $0x00000000, 44(SP)
	MOVL $0x00000000, 48(SP)
	MOVL $0x00000000, 52(SP)
	MOVL $0x00000000, 56(SP)
	MOVL $0x00000100, 60(SP)
	MOVL $0x6a09e667, AX
	MOVL $0xbb67ae85, BX
	MOVL $0x3c6ef372, CX
	MOVL $0xa54ff53a, DX
	MOVL $0x510e527f, R8
	MOVL $0x9b05688c, R9
	MOVL $0x1f83d9ab, R10
	MOVL $0x5be0cd19, R11

compress:
	MOVL AX, FRAME_H+0(SP)
	MOVL BX, FRAME_H+4(SP)
	MOVL CX, FRAME_H+8(SP)
	MOVL DX, FRAME_H+12(SP)
	MOVL R8, FRAME_H+16(SP)
	MOVL R9, FRAME_H+20(SP)
	MOVL R10, FRAME_H+24(SP)
	MOVL R11, FRAME_H+28(SP)
	MOVL BX, R12
	XORL CX, R12 // b^c for round 0
	MOVQ SP, R13

	// Rounds 0..47, 8 per pass, each computing a word of the schedule.
scheduleLoop:
	ROUND(0, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	SCHEDULE(0, R12)
	ROUND(1, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	SCHEDULE(1, R14)
	ROUND(2, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	SCHEDULE(2, R12)
	ROUND(3, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	SCHEDULE(3, R14)
	ROUND(4, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	SCHEDULE(4, R12)
	ROUND(5, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	SCHEDULE(5, R14)
	ROUND(6, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	SCHEDULE(6, R12)
	ROUND(7, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	SCHEDULE(7, R14)
	ADDQ $32, R13
	LEAQ (FRAME_W+48*4)(SP), SI
	CMPQ R13, SI
	JNE  scheduleLoop

	// Rounds 48..63.
	ROUND(0, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	ROUND(1, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	ROUND(2, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	ROUND(3, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	ROUND(4, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	ROUND(5, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	ROUND(6, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	ROUND(7, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	ROUND(8, AX, BX, CX, DX, R8, R9, R10, R11, R14, R12)
	ROUND(9, R11, AX, BX, CX, DX, R8, R9, R10, R12, R14)
	ROUND(10, R10, R11, AX, BX, CX, DX, R8, R9, R14, R12)
	ROUND(11, R9, R10, R11, AX, BX, CX, DX, R8, R12, R14)
	ROUND(12, R8, R9, R10, R11, AX, BX, CX, DX, R14, R12)
	ROUND(13, DX, R8, R9, R10, R11, AX, BX, CX, R12, R14)
	ROUND(14, CX, DX, R8, R9, R10, R11, AX, BX, R14, R12)
	ROUND(15, BX, CX, DX, R8, R9, R10, R11, AX, R12, R14)
	ADDL FRAME_H+0(SP), AX
	ADDL FRAME_H+4(SP), BX
	ADDL FRAME_H+8(SP), CX
	ADDL FRAME_H+12(SP), DX
	ADDL FRAME_H+16(SP), R8
	ADDL FRAME_H+20(SP), R9
	ADDL FRAME_H+24(SP), R10
	ADDL FRAME_H+28(SP), R11
	JMP loop

output:
	MOVQ out+0(FP), SI
	BSWAPL AX
	MOVL   AX, 0(SI)
	BSWAPL BX
	MOVL   BX, 4(SI)
	BSWAPL CX
	MOVL   CX, 8(SI)
	BSWAPL DX
	MOVL   DX, 12(SI)
	BSWAPL R8
	MOVL   R8, 16(SI)
	BSWAPL R9
	MOVL   R9, 20(SI)
	BSWAPL R10
	MOVL   R10, 24(SI)
	BSWAPL R11
	MOVL   R11, 28(SI)
	RET

// K0..63
DATA roundK<>+0(SB)/8, $0x71374491428a2f98
DATA roundK<>+8(SB)/8, $0xe9b5dba5b5c0fbcf
DATA roundK<>+16(SB)/8, $0x59f111f13956c25b
DATA roundK<>+24(SB)/8, $0xab1c5ed5923f82a4
DATA roundK<>+32(SB)/8, $0x12835b01d807aa98
DATA roundK<>+40(SB)/8, $0x550c7dc3243185be
DATA roundK<>+48(SB)/8, $0x80deb1fe72be5d74
DATA roundK<>+56(SB)/8, $0xc19bf1749bdc06a7
DATA roundK<>+64(SB)/8, $0xefbe4786e49b69c1
DATA roundK<>+72(SB)/8, $0x240ca1cc0fc19dc6
DATA roundK<>+80(SB)/8, $0x4a7484aa2de92c6f
DATA roundK<>+88(SB)/8, $0x76f988da5cb0a9dc
DATA roundK<>+96(SB)/8, $0xa831c66d983e5152
DATA roundK<>+104(SB)/8, $0xbf597fc7b00327c8
DATA roundK<>+112(SB)/8, $0xd5a79147c6e00bf3
DATA roundK<>+120(SB)/8, $0x1429296706ca6351
DATA roundK<>+128(SB)/8, $0x2e1b213827b70a85
DATA roundK<>+136(SB)/8, $0x53380d134d2c6dfc
DATA roundK<>+144(SB)/8, $0x766a0abb650a7354
DATA roundK<>+152(SB)/8, $0x92722c8581c2c92e
DATA roundK<>+160(SB)/8, $0xa81a664ba2bfe8a1
DATA roundK<>+168(SB)/8, $0xc76c51a3c24b8b70
DATA roundK<>+176(SB)/8, $0xd6990624d192e819
DATA roundK<>+184(SB)/8, $0x106aa070f40e3585
DATA roundK<>+192(SB)/8, $0x1e376c0819a4c116
DATA roundK<>+200(SB)/8, $0x34b0bcb52748774c
DATA roundK<>+208(SB)/8, $0x4ed8aa4a391c0cb3
DATA roundK<>+216(SB)/8, $0x682e6ff35b9cca4f
DATA roundK<>+224(SB)/8, $0x78a5636f748f82ee
DATA roundK<>+232(SB)/8, $0x8cc7020884c87814
DATA roundK<>+240(SB)/8, $0xa4506ceb90befffa
DATA roundK<>+248(SB)/8, $0xc67178f2bef9a3f7
GLOBL roundK<>(SB), RODATA|NOPTR, $256

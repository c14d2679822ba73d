package gateway

// CRC combination: the CRC of A‖B from crc(A), crc(B) and len(B), without
// the bytes (zlib's crc32_combine, generalised to the reflected CRCs S3
// uses). Appending len(B) zero bytes to A is a linear map on the CRC
// register, a width×width matrix over GF(2); it is built by repeated
// squaring of the one-zero-bit operator, so the cost is O(width² · log
// len(B)) whatever the length. The pre- and post-inversion of these CRCs
// (init and xorout all ones) cancel out in the XOR, as in zlib.

// crcPoly is a reflected CRC: its polynomial in reversed bit order and its
// width in bits (32 or 64).
type crcPoly struct {
	poly  uint64
	width int
}

var (
	polyCRC32     = crcPoly{0xedb88320, 32}         // IEEE 802.3
	polyCRC32C    = crcPoly{0x82f63b78, 32}         // Castagnoli
	polyCRC64NVME = crcPoly{0x9a6c9329ac4bc9b5, 64} // NVM Express
)

// gf2Times multiplies the matrix mat by the vector vec.
func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// gf2Square sets sq to mat².
func gf2Square(sq, mat []uint64) {
	for n := range mat {
		sq[n] = gf2Times(mat, mat[n])
	}
}

// combine returns the CRC of A‖B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B) in bytes.
func (p crcPoly) combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	even := make([]uint64, p.width) // operator for 2^k zero bits, k even
	odd := make([]uint64, p.width)
	// odd: the operator for one zero bit
	odd[0] = p.poly
	row := uint64(1)
	for n := 1; n < p.width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four zero bits
	// Each round squares the operator (one zero byte, then two, four...)
	// and applies it where len2 has a one bit.
	for {
		gf2Square(even, odd)
		if len2&1 != 0 {
			crc1 = gf2Times(even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(odd, even)
		if len2&1 != 0 {
			crc1 = gf2Times(odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

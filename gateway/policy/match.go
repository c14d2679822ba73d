package policy

// wildMatch matches s against pattern, where * is any run of characters
// (also none, also /) and ? is one character, as IAM matches actions,
// resources and StringLike values. Case-sensitive: callers fold case
// where IAM does (actions).
func wildMatch(pattern, s string) bool {
	// The classic linear-time backtracking matcher: remember the last *
	// and where s stood, and move on by one on a mismatch.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			if pattern[p] == '?' {
				// one character: a whole UTF-8 sequence
				i += runeLen(s[i:])
			} else {
				i++
			}
			p++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark += runeLen(s[mark:])
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func runeLen(s string) int {
	c := s[0]
	switch {
	case c < 0x80:
		return 1
	case c>>5 == 0x6 && len(s) >= 2:
		return 2
	case c>>4 == 0xe && len(s) >= 3:
		return 3
	case c>>3 == 0x1e && len(s) >= 4:
		return 4
	}
	return 1
}

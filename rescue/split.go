package rescue

import (
	"errors"
	"strings"
)

// Errors returned by SplitLine.
var (
	ErrSingleQuote = errors.New("unterminated single quote")
	ErrDoubleQuote = errors.New("unterminated double quote")
	ErrBackslash   = errors.New("trailing backslash")
)

// SplitLine splits a command line into words with a subset of the POSIX
// shell rules:
//
//   - unquoted spaces, tabs, CR and LF separate words;
//   - '...' keeps everything literally up to the next single quote;
//   - "..." keeps everything, except that a backslash escapes $ ` " \ and
//     newline (other backslashes stay);
//   - an unquoted backslash makes the next byte literal;
//   - an unquoted '#' at the start of a word starts a comment;
//   - empty quotes ("" or a pair of single quotes) produce an empty word.
//
// There is no expansion of variables, globs or substitutions. Unterminated
// quotes and a trailing backslash are errors.
func SplitLine(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
		case c == '#' && !inWord:
			return words, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, ErrBackslash
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, ErrSingleQuote
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			n, err := doubleQuoted(line[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			i += n
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, nil
}

// doubleQuoted copies the inside of a "..." string from s (which starts
// just after the opening quote) to b and returns the number of bytes
// consumed including the closing quote.
func doubleQuoted(s string, b *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
				i++
				b.WriteByte(s[i])
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return 0, ErrDoubleQuote
}

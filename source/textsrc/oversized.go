package textsrc

import "strconv"

// headBytes is how much of a line too long to emit Oversized keeps.
const headBytes = 4 << 10

// Oversized is a line longer than MaxLineBytes, which Lines and LinesFile
// reject instead of emitting: the pipeline's error policy gets it, and a
// dead-letter function finds it as the item, with the *LineError that
// says so. It holds the line's first 4 KiB, not the line.
type Oversized struct {
	File string // the input's name, as in Line.File
	Line int    // the line's number, counting from 1
	Size int64  // the line's length in bytes, line ending excluded
	Head string // the line's first bytes: 4 KiB of it, or all of a shorter one
}

// Where names the line as "file:N", the label it has in errors and logs.
func (o Oversized) Where() string { return o.File + ":" + strconv.Itoa(o.Line) }

// Raw returns the head of the line: what a dead-letter file keeps of it.
func (o Oversized) Raw() string { return o.Head }

// Truncated reports that Raw is not the whole line: always true, since
// the line is longer than a source holds, which makes a dead-letter writer
// flag it.
func (o Oversized) Truncated() bool { return true }

// longLine is what a feed keeps of a line too long while it reads on to
// its end: its first bytes, how many bytes it has read, and the last two,
// to leave out the line ending from its size.
type longLine struct {
	head []byte
	size int64
	tail [2]byte
}

// add counts frag, the next bytes of the line.
func (l *longLine) add(frag []byte) {
	if len(l.head) < headBytes {
		l.head = append(l.head, frag[:min(len(frag), headBytes-len(l.head))]...)
	}
	l.size += int64(len(frag))
	switch len(frag) {
	case 0:
	case 1:
		l.tail = [2]byte{l.tail[1], frag[0]}
	default:
		l.tail = [2]byte{frag[len(frag)-2], frag[len(frag)-1]}
	}
}

// end returns the line's length and head, without its line ending.
func (l *longLine) end() (size int64, head string) {
	size = l.size
	if l.tail[1] == '\n' {
		size--
		if l.tail[0] == '\r' {
			size--
		}
	} else if l.tail[1] == '\r' {
		size-- // at the end of the input, as trimEOL does
	}
	return size, string(l.head[:min(int64(len(l.head)), size)])
}

package jsonbody

// Edit replaces body[Start:End] with Text. Edits given to Apply must be
// sorted by Start and must not overlap.
type Edit struct {
	Start, End int
	Text       []byte
}

// Length is the length of body once the edits are applied.
func Length(body []byte, edits ...Edit) int {
	n := len(body)
	for _, e := range edits {
		n += len(e.Text) - (e.End - e.Start)
	}
	return n
}

// Apply writes body with the edits applied into dst (reset to length 0)
// and returns it; dst is grown at most once.
func Apply(dst, body []byte, edits ...Edit) []byte {
	if n := Length(body, edits...); cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dst = dst[:0]
	at := 0
	for _, e := range edits {
		dst = append(dst, body[at:e.Start]...)
		dst = append(dst, e.Text...)
		at = e.End
	}
	return append(dst, body[at:]...)
}

// RemoveMember returns the edit that deletes m from its object, with the
// comma that separates it from a neighbour.
func RemoveMember(body []byte, m *Member) Edit {
	i := skipSpace(body, m.ValEnd)
	if i < len(body) && body[i] == ',' {
		return Edit{Start: m.KeyStart, End: skipSpace(body, i+1)}
	}
	j := m.KeyStart - 1
	for j >= 0 && (body[j] == ' ' || body[j] == '\n' || body[j] == '\r' || body[j] == '\t') {
		j--
	}
	if j >= 0 && body[j] == ',' {
		return Edit{Start: j, End: m.ValEnd}
	}
	return Edit{Start: m.KeyStart, End: m.ValEnd}
}

// ReplaceValue returns the edit that sets m's value to raw JSON text.
func ReplaceValue(m *Member, raw []byte) Edit {
	return Edit{Start: m.ValStart, End: m.ValEnd, Text: raw}
}

// AppendMembers returns the edit that adds raw members (`"k":v,"k2":v2`)
// at the end of the object; hasMembers says whether the object already
// has any, so a comma is needed.
func AppendMembers(body []byte, hasMembers bool, raw []byte) Edit {
	end := len(body) - 1
	for end >= 0 && body[end] != '}' {
		end--
	}
	if hasMembers {
		text := make([]byte, 0, len(raw)+1)
		text = append(append(text, ','), raw...)
		return Edit{Start: end, End: end, Text: text}
	}
	return Edit{Start: end, End: end, Text: raw}
}

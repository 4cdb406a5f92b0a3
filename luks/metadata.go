package luks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// metadata is the LUKS2 JSON area. Offsets and sizes are decimal strings in JSON (they may
// exceed what a JSON number holds exactly); small counts are numbers.
type metadata struct {
	Keyslots map[string]jsonKeyslot     `json:"keyslots"`
	Tokens   map[string]json.RawMessage `json:"tokens"`
	Segments map[string]jsonSegment     `json:"segments"`
	Digests  map[string]jsonDigest      `json:"digests"`
	Config   struct {
		JSONSize     u64      `json:"json_size"`
		KeyslotsSize u64      `json:"keyslots_size"`
		Flags        []string `json:"flags"`
		Requirements struct {
			Mandatory []string `json:"mandatory"`
		} `json:"requirements"`
	} `json:"config"`

	jsonSize uint64
}

type jsonKeyslot struct {
	Type    string `json:"type"`
	KeySize int    `json:"key_size"`
	AF      struct {
		Type    string `json:"type"`
		Stripes int    `json:"stripes"`
		Hash    string `json:"hash"`
	} `json:"af"`
	Area struct {
		Type       string `json:"type"`
		Offset     u64    `json:"offset"`
		Size       u64    `json:"size"`
		Encryption string `json:"encryption"`
		KeySize    int    `json:"key_size"`
	} `json:"area"`
	KDF struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations int    `json:"iterations"`
		Time       int    `json:"time"`
		Memory     int64  `json:"memory"`
		CPUs       int    `json:"cpus"`
		Salt       string `json:"salt"`
	} `json:"kdf"`
	Priority *int `json:"priority"`
}

type jsonSegment struct {
	Type       string          `json:"type"`
	Offset     u64             `json:"offset"`
	Size       string          `json:"size"`
	IVTweak    u64             `json:"iv_tweak"`
	Encryption string          `json:"encryption"`
	SectorSize int             `json:"sector_size"`
	Integrity  json.RawMessage `json:"integrity"`
	Flags      []string        `json:"flags"`
}

type jsonDigest struct {
	Type       string   `json:"type"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
	Hash       string   `json:"hash"`
	Iterations int      `json:"iterations"`
	Salt       string   `json:"salt"`
	Digest     string   `json:"digest"`
}

type jsonToken struct {
	Type     string   `json:"type"`
	Keyslots []string `json:"keyslots"`
}

// u64 is a LUKS2 JSON unsigned integer written as a decimal string.
type u64 struct {
	v   uint64
	set bool
}

func (u *u64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a decimal string, got %s", truncate(b))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || s != strconv.FormatUint(v, 10) {
		return fmt.Errorf("%q is not a decimal number", s)
	}
	u.v, u.set = v, true
	return nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "…"
	}
	return string(b)
}

// maxObjects is the LUKS2 limit on keyslots, tokens, segments and digests (ids 0…31).
const maxObjects = 32

// parseMetadata decodes the JSON area: JSON text up to the first NUL.
func parseMetadata(area []byte) (*metadata, error) {
	if i := bytes.IndexByte(area, 0); i >= 0 {
		area = area[:i]
	} else {
		return nil, fmt.Errorf("JSON area is not NUL-terminated")
	}
	m := &metadata{}
	if err := json.Unmarshal(area, m); err != nil {
		return nil, err
	}
	if m.Keyslots == nil || m.Segments == nil || m.Digests == nil || m.Tokens == nil || !m.Config.JSONSize.set {
		return nil, fmt.Errorf("missing keyslots, segments, digests, tokens or config.json_size")
	}
	m.jsonSize = m.Config.JSONSize.v
	return m, nil
}

// objectID parses a JSON object key or reference: a canonical decimal id below maxObjects.
func objectID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= maxObjects || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("bad id %q", s)
	}
	return n, nil
}

// fill checks the metadata of a header copy of hdrSize bytes on a device of size bytes and
// moves it into h.
func (m *metadata) fill(h *Header, hdrSize uint64, size int64) error {
	areaStart := 2 * hdrSize
	areaEnd := areaStart + m.Config.KeyslotsSize.v
	if !m.Config.KeyslotsSize.set || m.Config.KeyslotsSize.v > 1<<40 {
		return fmt.Errorf("config: keyslots_size missing or absurd")
	}
	for _, key := range sortedKeys(m.Keyslots) {
		ks, err := m.Keyslots[key].keyslot(key, areaStart, areaEnd)
		if err != nil {
			return fmt.Errorf("keyslot %s: %w", key, err)
		}
		h.keyslots = append(h.keyslots, ks)
	}
	// High priority first, then normal; ids ascending within each.
	sort.SliceStable(h.keyslots, func(i, j int) bool { return h.keyslots[i].Priority > h.keyslots[j].Priority })
	for _, key := range sortedKeys(m.Digests) {
		d, err := m.Digests[key].digest(key, m)
		if err != nil {
			return fmt.Errorf("digest %s: %w", key, err)
		}
		h.digests = append(h.digests, d)
	}
	for _, key := range sortedKeys(m.Tokens) {
		t, err := parseToken(key, m.Tokens[key], m)
		if err != nil {
			return fmt.Errorf("token %s: %w", key, err)
		}
		h.tokens = append(h.tokens, t)
	}
	h.Flags = m.Config.Flags
	h.segID, h.segment, h.segErr = m.dataSegment(size)
	if h.segErr == nil {
		h.segErr = m.blockers()
	}
	return nil
}

// sortedKeys returns object keys in numeric order; bad keys sort last and fail later.
func sortedKeys[V any](objs map[string]V) []string {
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return keys
}

func (j jsonKeyslot) keyslot(key string, areaStart, areaEnd uint64) (Keyslot, error) {
	id, err := objectID(key)
	if err != nil {
		return Keyslot{}, err
	}
	ks := Keyslot{ID: id, Type: j.Type, Priority: PriorityNormal}
	if j.Priority != nil {
		if *j.Priority < 0 || *j.Priority > 2 {
			return Keyslot{}, fmt.Errorf("priority %d", *j.Priority)
		}
		ks.Priority = Priority(*j.Priority)
	}
	if j.Type != "luks2" {
		// reencrypt keyslots hold no key; unknown types are reported by Unlock and Segment.
		return ks, nil
	}
	if j.KeySize < 1 || j.KeySize > maxKeyBytes || j.Area.KeySize < 1 || j.Area.KeySize > maxKeyBytes {
		return Keyslot{}, fmt.Errorf("key size %d, area key size %d", j.KeySize, j.Area.KeySize)
	}
	if j.AF.Type != "luks1" {
		return Keyslot{}, unsupported("anti-forensic splitter %q", j.AF.Type)
	}
	if j.AF.Stripes < 1 || j.AF.Stripes > maxAFBytes/j.KeySize {
		return Keyslot{}, fmt.Errorf("%d stripes", j.AF.Stripes)
	}
	if j.Area.Type != "raw" {
		return Keyslot{}, unsupported("keyslot area type %q", j.Area.Type)
	}
	off, sz := j.Area.Offset.v, j.Area.Size.v
	need := roundUp(uint64(j.KeySize*j.AF.Stripes), sectorSize)
	if !j.Area.Offset.set || !j.Area.Size.set || off%sectorSize != 0 || off < areaStart ||
		sz > areaEnd || off > areaEnd-sz || sz < need {
		return Keyslot{}, fmt.Errorf("area offset %d size %d outside the keyslots area [%d, %d) or smaller than %d",
			off, sz, areaStart, areaEnd, need)
	}
	salt, err := base64.StdEncoding.DecodeString(j.KDF.Salt)
	if err != nil || len(salt) == 0 {
		return Keyslot{}, fmt.Errorf("kdf salt: not base64")
	}
	k := KDF{Type: j.KDF.Type, Hash: j.KDF.Hash, Salt: salt}
	switch j.KDF.Type {
	case "pbkdf2":
		k.Iterations = j.KDF.Iterations
	case "argon2i", "argon2id":
		if j.KDF.Memory < 0 || j.KDF.Memory > maxArgon2MemoryKiB || j.KDF.CPUs < 1 || j.KDF.CPUs > 255 {
			return Keyslot{}, fmt.Errorf("%s: memory %d KiB, %d cpus", j.KDF.Type, j.KDF.Memory, j.KDF.CPUs)
		}
		k.Iterations, k.MemoryKiB, k.Threads = j.KDF.Time, uint32(j.KDF.Memory), uint8(j.KDF.CPUs)
	}
	if err := k.validate(); err != nil && !isUnsupported(err) {
		return Keyslot{}, err
	}
	ks.KeySize, ks.KDF = j.KeySize, k
	ks.AreaOffset, ks.AreaSize = off, sz
	ks.AreaCipher, ks.AreaKeySize = j.Area.Encryption, j.Area.KeySize
	ks.Stripes, ks.AFHash = j.AF.Stripes, j.AF.Hash
	return ks, nil
}

func (j jsonDigest) digest(key string, m *metadata) (digest, error) {
	id, err := objectID(key)
	if err != nil {
		return digest{}, err
	}
	if j.Type != "pbkdf2" {
		return digest{}, unsupported("digest type %q", j.Type)
	}
	d := digest{id: id, hash: j.Hash, iterations: j.Iterations}
	if _, err := hashByName(j.Hash); err != nil {
		return digest{}, err
	}
	if j.Iterations < 1 {
		return digest{}, fmt.Errorf("%d iterations", j.Iterations)
	}
	if d.salt, err = base64.StdEncoding.DecodeString(j.Salt); err != nil || len(d.salt) == 0 {
		return digest{}, fmt.Errorf("salt: not base64")
	}
	if d.value, err = base64.StdEncoding.DecodeString(j.Digest); err != nil || len(d.value) == 0 || len(d.value) > 64 {
		return digest{}, fmt.Errorf("digest: not base64 of 1 to 64 bytes")
	}
	if d.keyslots, err = references(j.Keyslots, m.Keyslots); err != nil {
		return digest{}, fmt.Errorf("keyslots: %w", err)
	}
	if d.segments, err = references(j.Segments, m.Segments); err != nil {
		return digest{}, fmt.Errorf("segments: %w", err)
	}
	return d, nil
}

// references parses a list of ids that must name existing objects.
func references[V any](refs []string, objs map[string]V) ([]int, error) {
	var ids []int
	for _, r := range refs {
		id, err := objectID(r)
		if err != nil {
			return nil, err
		}
		if _, ok := objs[r]; !ok {
			return nil, fmt.Errorf("%s does not exist", r)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func parseToken(key string, raw json.RawMessage, m *metadata) (Token, error) {
	id, err := objectID(key)
	if err != nil {
		return Token{}, err
	}
	var j jsonToken
	if err := json.Unmarshal(raw, &j); err != nil {
		return Token{}, err
	}
	if j.Type == "" {
		return Token{}, fmt.Errorf("no type")
	}
	t := Token{ID: id, Type: j.Type}
	if t.Keyslots, err = references(j.Keyslots, m.Keyslots); err != nil {
		return Token{}, fmt.Errorf("keyslots: %w", err)
	}
	return t, nil
}

// dataSegment finds the one crypt segment; anything else is unsupported, never guessed at.
func (m *metadata) dataSegment(size int64) (int, Segment, error) {
	var ids []string
	for _, key := range sortedKeys(m.Segments) {
		if _, err := objectID(key); err != nil {
			return 0, Segment{}, fmt.Errorf("segment %s: %w", key, err)
		}
		backup := slices.ContainsFunc(m.Segments[key].Flags, func(f string) bool { return strings.HasPrefix(f, "backup-") })
		if !backup {
			ids = append(ids, key)
		}
	}
	switch len(ids) {
	case 0:
		return 0, Segment{}, fmt.Errorf("no data segment")
	case 1:
	default:
		return 0, Segment{}, unsupported("%d data segments (reencryption in progress?)", len(ids))
	}
	id, _ := objectID(ids[0])
	j := m.Segments[ids[0]]
	if j.Type != "crypt" {
		return 0, Segment{}, unsupported("segment %d of type %q", id, j.Type)
	}
	if len(j.Integrity) > 0 && string(j.Integrity) != "null" {
		var integ struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(j.Integrity, &integ)
		return 0, Segment{}, unsupported("segment %d uses dm-integrity/AEAD (integrity %q)", id, integ.Type)
	}
	if slices.Contains(j.Flags, "in-reencryption") {
		return 0, Segment{}, unsupported("segment %d is being reencrypted", id)
	}
	s := Segment{Cipher: j.Encryption, IVTweak: j.IVTweak.v, SectorSize: j.SectorSize, Flags: j.Flags}
	switch j.SectorSize {
	case 512, 1024, 2048, 4096:
	default:
		return 0, Segment{}, fmt.Errorf("segment %d: sector size %d", id, j.SectorSize)
	}
	if !j.Offset.set || j.Offset.v%sectorSize != 0 {
		return 0, Segment{}, fmt.Errorf("segment %d: offset %d is not a multiple of 512", id, j.Offset.v)
	}
	s.Offset = j.Offset.v / sectorSize
	if j.Size == "dynamic" {
		s.Dynamic = true
	} else {
		n, err := strconv.ParseUint(j.Size, 10, 64)
		if err != nil || n == 0 || n%uint64(j.SectorSize) != 0 {
			return 0, Segment{}, fmt.Errorf("segment %d: size %q", id, j.Size)
		}
		s.Size = n / sectorSize
	}
	if size > 0 && j.Offset.v > uint64(size) {
		return 0, Segment{}, fmt.Errorf("segment %d: offset %d beyond the device's end", id, j.Offset.v)
	}
	if _, err := parseCipher(s.Cipher); err != nil {
		return 0, Segment{}, fmt.Errorf("segment %d: %w", id, err)
	}
	// The key size is the one the segment's digest certifies: any keyslot bound to it.
	for _, d := range m.Digests {
		if !slices.Contains(d.Segments, ids[0]) {
			continue
		}
		for _, k := range d.Keyslots {
			if ks, ok := m.Keyslots[k]; ok && ks.Type == "luks2" {
				s.KeySize = ks.KeySize
			}
		}
	}
	if s.KeySize == 0 {
		return 0, Segment{}, fmt.Errorf("segment %d: no keyslot holds its key", id)
	}
	return id, s, nil
}

// blockers reports metadata that forbids opening the volume: mandatory requirements this
// package does not know (online reencryption among them) and reencryption keyslots.
func (m *metadata) blockers() error {
	if req := m.Config.Requirements.Mandatory; len(req) > 0 {
		if strings.HasPrefix(req[0], "online-reencrypt") {
			return unsupported("reencryption in progress (requirement %q)", req[0])
		}
		return unsupported("mandatory requirement %q", req[0])
	}
	for _, key := range sortedKeys(m.Keyslots) {
		switch t := m.Keyslots[key].Type; t {
		case "luks2":
		case "reencrypt":
			return unsupported("reencryption in progress (keyslot %s)", key)
		default:
			return unsupported("keyslot %s of type %q", key, t)
		}
	}
	return nil
}

func isUnsupported(err error) bool {
	_, ok := err.(*UnsupportedError)
	return ok
}

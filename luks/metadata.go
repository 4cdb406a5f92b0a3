package luks

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// metadata is the LUKS2 JSON area. Offsets and sizes are decimal strings in JSON (they may
// exceed what a JSON number holds exactly); small counts are numbers.
type metadata struct {
	Keyslots map[string]jsonKeyslot
	Tokens   map[string]jsonValue
	Segments map[string]jsonSegment
	Digests  map[string]jsonDigest
	Config   struct {
		JSONSize     u64
		KeyslotsSize u64
		Flags        []string
		Requirements struct {
			Mandatory []string
		}
	}

	jsonSize uint64
}

type jsonKeyslot struct {
	Type    string
	KeySize int
	AF      struct {
		Type    string
		Stripes int
		Hash    string
	}
	Area struct {
		Type       string
		Offset     u64
		Size       u64
		Encryption string
		KeySize    int
	}
	KDF struct {
		Type       string
		Hash       string
		Iterations int
		Time       int
		Memory     int64
		CPUs       int
		Salt       string
	}
	Priority *int
}

type jsonSegment struct {
	Type       string
	Offset     u64
	Size       string
	IVTweak    u64
	Encryption string
	SectorSize int
	Integrity  jsonValue
	Flags      []string
}

type jsonDigest struct {
	Type       string
	Keyslots   []string
	Segments   []string
	Hash       string
	Iterations int
	Salt       string
	Digest     string
}

type jsonToken struct {
	Type     string
	Keyslots []string
}

// u64 is a LUKS2 JSON unsigned integer written as a decimal string.
type u64 struct {
	v   uint64
	set bool
}

// decodeU64 reads a canonical decimal string; absent or null is an error too.
func decodeU64(v jsonValue, name string) (u64, error) {
	if v.kind != jsonString {
		return u64{}, fmt.Errorf("%s: want a decimal string, got %s", name, v.kind)
	}
	n, err := strconv.ParseUint(v.text, 10, 64)
	if err != nil || v.text != strconv.FormatUint(n, 10) {
		return u64{}, fmt.Errorf("%s: %q is not a decimal number", name, truncate([]byte(v.text)))
	}
	return u64{v: n, set: true}, nil
}

// fields decodes named members of obj in turn, stopping at the first error.
type fields struct {
	obj jsonValue
	err error
}

func (f *fields) str(key string, dst *string) {
	if f.err == nil {
		*dst, f.err = f.obj.member(key).str(key)
	}
}

func (f *fields) int(key string, dst *int) {
	if f.err == nil {
		*dst, f.err = f.obj.member(key).int(key)
	}
}

func (f *fields) int64(key string, dst *int64) {
	if f.err == nil {
		*dst, f.err = f.obj.member(key).integer(key)
	}
}

func (f *fields) strings(key string, dst *[]string) {
	if f.err == nil {
		*dst, f.err = f.obj.member(key).strings(key)
	}
}

// u64 decodes a present member; an absent or null one stays unset.
func (f *fields) u64(key string, dst *u64) {
	if v := f.obj.member(key); f.err == nil && v.kind != jsonNull {
		*dst, f.err = decodeU64(v, key)
	}
}

// sub returns the decoder of a nested object (null or absent: no members).
func (f *fields) sub(key string) *fields {
	v := f.obj.member(key)
	if f.err == nil && v.kind != jsonNull {
		f.err = v.want(key, jsonObject)
	}
	return &fields{obj: v, err: f.err}
}

// done folds a nested decoder's error back.
func (f *fields) done(sub *fields) {
	if f.err == nil {
		f.err = sub.err
	}
}

// decodeObjects decodes an object of objects keyed by id with dec, in
// document order (errors are reported in that order; a later duplicate wins).
func decodeObjects[T any](v jsonValue, name string, dec func(*fields) T) (map[string]T, error) {
	if v.kind == jsonNull {
		return nil, nil
	}
	if err := v.want(name, jsonObject); err != nil {
		return nil, err
	}
	out := make(map[string]T, len(v.members))
	for _, mb := range v.members {
		key, o := mb.key, mb.value
		if o.kind != jsonNull {
			if err := o.want(name+" "+key, jsonObject); err != nil {
				return nil, err
			}
		}
		f := &fields{obj: o}
		t := dec(f)
		if f.err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, key, f.err)
		}
		out[key] = t
	}
	return out, nil
}

func decodeKeyslot(f *fields) jsonKeyslot {
	var j jsonKeyslot
	f.str("type", &j.Type)
	f.int("key_size", &j.KeySize)
	af := f.sub("af")
	af.str("type", &j.AF.Type)
	af.int("stripes", &j.AF.Stripes)
	af.str("hash", &j.AF.Hash)
	f.done(af)
	area := f.sub("area")
	area.str("type", &j.Area.Type)
	area.u64("offset", &j.Area.Offset)
	area.u64("size", &j.Area.Size)
	area.str("encryption", &j.Area.Encryption)
	area.int("key_size", &j.Area.KeySize)
	f.done(area)
	kdf := f.sub("kdf")
	kdf.str("type", &j.KDF.Type)
	kdf.str("hash", &j.KDF.Hash)
	kdf.int("iterations", &j.KDF.Iterations)
	kdf.int("time", &j.KDF.Time)
	kdf.int64("memory", &j.KDF.Memory)
	kdf.int("cpus", &j.KDF.CPUs)
	kdf.str("salt", &j.KDF.Salt)
	f.done(kdf)
	if p := f.obj.member("priority"); p.kind != jsonNull && f.err == nil {
		var n int
		f.int("priority", &n)
		j.Priority = &n
	}
	return j
}

func decodeSegment(f *fields) jsonSegment {
	var j jsonSegment
	f.str("type", &j.Type)
	f.u64("offset", &j.Offset)
	f.str("size", &j.Size)
	f.u64("iv_tweak", &j.IVTweak)
	f.str("encryption", &j.Encryption)
	f.int("sector_size", &j.SectorSize)
	j.Integrity = f.obj.member("integrity")
	f.strings("flags", &j.Flags)
	return j
}

func decodeDigest(f *fields) jsonDigest {
	var j jsonDigest
	f.str("type", &j.Type)
	f.strings("keyslots", &j.Keyslots)
	f.strings("segments", &j.Segments)
	f.str("hash", &j.Hash)
	f.int("iterations", &j.Iterations)
	f.str("salt", &j.Salt)
	f.str("digest", &j.Digest)
	return j
}

func decodeToken(f *fields) jsonToken {
	var j jsonToken
	f.str("type", &j.Type)
	f.strings("keyslots", &j.Keyslots)
	return j
}

// decodeMetadata decodes the top-level object of the JSON area.
func decodeMetadata(root jsonValue) (*metadata, error) {
	if err := root.want("metadata", jsonObject); err != nil {
		return nil, err
	}
	m := &metadata{}
	var err error
	if m.Keyslots, err = decodeObjects(root.member("keyslots"), "keyslots", decodeKeyslot); err != nil {
		return nil, err
	}
	if m.Segments, err = decodeObjects(root.member("segments"), "segments", decodeSegment); err != nil {
		return nil, err
	}
	if m.Digests, err = decodeObjects(root.member("digests"), "digests", decodeDigest); err != nil {
		return nil, err
	}
	if m.Tokens, err = root.member("tokens").object("tokens"); err != nil {
		return nil, err
	}
	f := &fields{obj: root}
	cfg := f.sub("config")
	cfg.u64("json_size", &m.Config.JSONSize)
	cfg.u64("keyslots_size", &m.Config.KeyslotsSize)
	cfg.strings("flags", &m.Config.Flags)
	req := cfg.sub("requirements")
	req.strings("mandatory", &m.Config.Requirements.Mandatory)
	cfg.done(req)
	f.done(cfg)
	if f.err != nil {
		return nil, fmt.Errorf("config: %w", f.err)
	}
	return m, nil
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
	root, err := parseJSON(area)
	if err != nil {
		return nil, err
	}
	m, err := decodeMetadata(root)
	if err != nil {
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
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
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

func parseToken(key string, raw jsonValue, m *metadata) (Token, error) {
	id, err := objectID(key)
	if err != nil {
		return Token{}, err
	}
	if err := raw.want("token", jsonObject); err != nil {
		return Token{}, err
	}
	f := &fields{obj: raw}
	j := decodeToken(f)
	if f.err != nil {
		return Token{}, f.err
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
	if j.Integrity.kind != jsonNull {
		typ, _ := j.Integrity.member("type").str("type")
		return 0, Segment{}, unsupported("segment %d uses dm-integrity/AEAD (integrity %q)", id, typ)
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

package modload

// Firmware returns the firmware file names the module file p declares
// (the "firmware=" entries of its .modinfo section, as modinfo -F firmware
// shows them), in order. p may be compressed (.ko.xz, .ko.zst, .ko.gz).
func Firmware(p string) ([]string, error) {
	mi, err := readModinfoFile(p)
	if err != nil {
		return nil, err
	}
	return mi.Firmware, nil
}

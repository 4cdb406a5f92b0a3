// Package uevent delivers kernel device events (uevents) to the init:
// first a replay of every device that already exists, then the live
// stream, merged and de-duplicated.
package uevent

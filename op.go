package engram

import "fmt"

// Op names an operation: it is Error.Op of every error and, for the operations measured
// per space (OpRemember to OpUpdate), the key of SpaceStats.Ops and of LatencyHistogram /
// BatchSizeHistogram. One vocabulary for both, so an error's operation is the row of the
// metrics that counted it.
type Op uint8

// Measured operations, in the order of SpaceStats.Ops. Their numbers are stable.
const (
	OpRemember Op = iota // BatchRemember, Remember, Archive, batchers, streams (items = memories)
	OpRecall             // Recall, BatchRecall (items = queries)
	OpGet
	OpForget // items = IDs
	OpUpdate // BatchUpdate, UpdateWhere (items = memories updated or attempted)
	OpEmbed  // calls of the space's Embedder (items = texts; latency per call)
	numMeasured
)

// Operations that appear in errors only.
const (
	OpArchive     Op = numMeasured + iota // Archive, ArchiveWhere (measured as OpRemember)
	OpOpen                                // Open
	OpClose                               // Store.Close
	OpSync                                // Store.Sync
	OpSpace                               // Store.Space
	OpLookup                              // Store.LookupSpace
	OpDrop                                // Store.DropSpace
	OpSnapshot                            // Space.Snapshot and Close's snapshots
	OpScan                                // Space.All
	OpMigrate                             // Space.Migrate and the background migrator
	OpCheck                               // Store.Check, Space.Check
	OpStream                              // Stream.Send
	OpFlush                               // Batcher.Flush
	OpFlushAccess                         // the background access-statistics flush
	OpCheckpoint                          // Space.Checkpoint, Space.SetCheckpoint
	OpRestore                             // Space.Restore (measured as OpRemember)
	OpBackup                              // Store.Backup
	OpRepair                              // Store.Repair
	numOps

	// opNone marks an error raised where the operation is not known (inside a
	// transaction, say); storageErr fills in the caller's.
	opNone Op = 255
)

var opNames = [numOps]string{
	OpRemember: "remember", OpRecall: "recall", OpGet: "get", OpForget: "forget", OpUpdate: "update", OpEmbed: "embed",
	OpArchive: "archive", OpOpen: "open", OpClose: "close", OpSync: "sync", OpSpace: "space",
	OpLookup: "lookup", OpDrop: "drop", OpSnapshot: "snapshot", OpScan: "scan", OpMigrate: "migrate",
	OpCheck: "check", OpStream: "stream", OpFlush: "flush", OpFlushAccess: "flush-access",
	OpCheckpoint: "checkpoint", OpRestore: "restore", OpBackup: "backup", OpRepair: "repair",
}

// String returns the operation's lower-case name, e.g. "remember".
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	if o == opNone {
		return ""
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// measured returns the metrics row an operation is counted under.
func (o Op) measured() Op {
	if o == OpArchive || o == OpRestore {
		return OpRemember
	}
	return o
}

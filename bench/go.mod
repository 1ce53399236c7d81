module github.com/engram-go/engram/bench

go 1.26.8

replace github.com/engram-go/engram => ../

require (
	github.com/coder/hnsw v0.6.1
	github.com/engram-go/engram v0.0.0
	github.com/engram-go/engram/postgres v0.0.0-00010101000000-000000000000
	github.com/jackc/pgx/v5 v5.13.0
	github.com/philippgille/chromem-go v0.7.0
	github.com/viterin/vek v0.4.3
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/chewxy/math32 v1.10.1 // indirect
	github.com/google/renameio v1.0.1 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/viterin/partial v1.1.0 // indirect
	golang.org/x/exp v0.0.0-20240506185415-9bf2ced13842 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

replace github.com/engram-go/engram/postgres => ../postgres

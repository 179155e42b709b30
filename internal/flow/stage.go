package flow

import "reflect"

// Attacher is implemented by every stage. Attach wires the stage in front of
// down, which is a Port of the stage's output type, and returns the Port of
// its input type. Attach starts no goroutine: it registers them with the
// Scope, and the run starts them only once the whole pipeline is built, so an
// invalid stage anywhere means nothing ever runs.
type Attacher interface {
	Attach(sc *Scope, down any) (up any, err error)
}

// Starter is implemented by every source. Start registers, with the Scope,
// the goroutine that produces items into down, a Port of the source's
// output type.
type Starter interface {
	Start(sc *Scope, down any) error
}

// Terminal is implemented by every sink. Attach returns the Port that
// consumes the stream.
type Terminal interface {
	Attach(sc *Scope) (up any, err error)
}

// TypeOf returns the reflect.Type of T, including interface types, for the
// one-time checks made when a pipeline is built.
func TypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// PortOf asserts that down is a Port[T]. The pipeline checks types before it
// attaches anything, so a failure here is a bug in a stage, reported as an
// error rather than a panic.
func PortOf[T any](down any) (Port[T], error) {
	p, ok := down.(Port[T])
	if !ok {
		return nil, &BuildError{Reason: "internal: downstream port is " + reflect.TypeOf(down).String() +
			", want Port[" + TypeOf[T]().String() + "]"}
	}
	return p, nil
}

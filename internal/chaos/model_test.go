package chaos_test

// model runs the pipeline of the spec sequentially on the first n source
// items, with the same transforms, decisions and per-item faults, and
// returns what the sink should accept, in order. ok is false when a fault
// would make the run fail, which a run without a stop cannot have.
func (s *spec) model(n int) (out []item, ok bool) {
	items := make([]item, n)
	for i := range items {
		items[i] = srcItem(i)
	}
	for _, st := range s.stages {
		if items, ok = s.apply(st, items); !ok {
			return nil, false
		}
	}
	sk := s.sink
	if sk.kind != snkFunc {
		return items, true
	}
	for _, it := range items {
		pass, mode := s.fate(sk.idx, sk.faultRate, s.policy, it.uid)
		if pass {
			out = append(out, it)
		} else if !s.settles(mode, it.uid) {
			return nil, false
		}
	}
	return out, true
}

// settles says whether a policy settles a failing node without failing the
// run.
func (s *spec) settles(mode policyMode, uid uint64) bool {
	switch mode {
	case pSkip:
		return true
	case pDeadLetter:
		return !s.dlFails(uid)
	default:
		return false
	}
}

func (s *spec) apply(st *stageSpec, in []item) ([]item, bool) {
	var out []item
	switch st.kind {
	case kChain:
		var ok bool
		for _, sub := range st.sub {
			if in, ok = s.apply(sub, in); !ok {
				return nil, false
			}
		}
		return in, true
	case kBatch:
		c := st.consumer
		for i := 0; i < len(in); i += st.size {
			b := in[i:min(i+st.size, len(in))]
			pass, mode := s.fate(c.idx, c.faultRate, s.policyOf(c), batchUID(b))
			switch {
			case pass:
				out = append(out, c.merge(b))
			case !s.settles(mode, batchUID(b)):
				return nil, false
			}
		}
		return out, true
	}
	for _, it := range in {
		pass, mode := s.fate(st.idx, st.faultRate, s.policyOf(st), it.uid)
		if !pass {
			if !s.settles(mode, it.uid) {
				return nil, false
			}
			continue
		}
		switch st.kind {
		case kMap, kParMap:
			out = append(out, st.transform(it))
		case kFilter:
			if st.keeps(s.seed, it) {
				out = append(out, it)
			}
		case kFlatMap:
			out = append(out, st.children(s.seed, it)...)
		default:
			out = append(out, it)
		}
	}
	return out, true
}

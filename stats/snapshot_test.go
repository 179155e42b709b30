package stats_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
)

func TestSnapshotKeysSorted(t *testing.T) {
	s := stats.Snapshot{"zeta": 1, "alpha": 2, "mid": 3}
	assert.Equal(t, []string{"alpha", "mid", "zeta"}, s.Keys())
	assert.Empty(t, stats.Snapshot{}.Keys())
}

func TestSnapshotString(t *testing.T) {
	s := stats.Snapshot{"zeta": 1, "alpha": -2, "mid": 30}
	assert.Equal(t, "alpha=-2, mid=30, zeta=1", s.String())
	assert.Equal(t, "", stats.Snapshot{}.String())
	assert.Equal(t, "only=7", stats.Snapshot{"only": 7}.String())
}

func TestSnapshotJSONSortedKeys(t *testing.T) {
	s := stats.Snapshot{"zeta": 1, "alpha": 2, "mid": 3}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `{"alpha":2,"mid":3,"zeta":1}`, string(b))
}

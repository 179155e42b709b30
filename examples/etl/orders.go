package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Order is one row of the orders CSV, and one line of the cleaned JSON
// Lines. DecodeCSV fills the tagged fields from the columns of the same
// name; enrich fills Region and Total.
type Order struct {
	ID        int64     `csv:"id" json:"id"`
	Customer  string    `csv:"customer" json:"customer"`
	Country   string    `csv:"country" json:"country"`
	Region    string    `csv:"-" json:"region"`
	Product   string    `csv:"product" json:"product"`
	Quantity  int64     `csv:"quantity" json:"quantity"`
	UnitPrice Cents     `csv:"unit_price" json:"unit_price"`
	Total     Cents     `csv:"-" json:"total"`
	CreatedAt time.Time `csv:"created_at" json:"created_at"`
	// Source is the row the order was read from, "orders.csv:17": the
	// lineage stage adds it as a column, so that every stage after the
	// decoder can name the row in its errors, and so does the output.
	Source string `csv:"source,optional" json:"source,omitempty"`
}

// Where labels the order in errors and dead letters: the CSV row it came
// from, or its id when that is not known.
func (o Order) Where() string {
	if o.Source != "" {
		return o.Source
	}
	return "order " + strconv.FormatInt(o.ID, 10)
}

// Raw returns the order as a row of the input CSV, which is what the
// generator wrote for it: textsink.DeadLetters keeps it as the rejected
// item's text.
func (o Order) Raw() string {
	return string(appendRow(nil, o.ID, o.Customer, o.Country, o.Product,
		strconv.FormatInt(o.Quantity, 10), o.UnitPrice.String(), o.CreatedAt))
}

// csvHeader is the orders CSV's header.
var csvHeader = "id,customer,country,product,quantity,unit_price,created_at"

// appendRow appends a row of the orders CSV, without its newline. The
// generator's values hold no comma, quote or newline, so they need no
// quoting.
func appendRow(b []byte, id int64, customer, country, product, quantity, price string, created time.Time) []byte {
	b = strconv.AppendInt(b, id, 10)
	b = append(b, ',')
	b = append(b, customer...)
	b = append(b, ',')
	b = append(b, country...)
	b = append(b, ',')
	b = append(b, product...)
	b = append(b, ',')
	b = append(b, quantity...)
	b = append(b, ',')
	b = append(b, price...)
	b = append(b, ',')
	return created.UTC().AppendFormat(b, time.RFC3339)
}

// Cents is an amount of money in hundredths: sums of Cents are exact, and
// do not depend on the order they are added in, as sums of float64 would.
// It reads and writes as a decimal number with at most two decimals
// ("12.5", "12.50", "-3.00"): as text in CSV, as a number in JSON.
type Cents int64

func (c Cents) String() string { return string(c.append(nil)) }

func (c Cents) append(b []byte) []byte {
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/100, 10)
	b = append(b, '.', byte('0'+u%100/10), byte('0'+u%10))
	return b
}

// errAmount is why an amount does not parse.
var errAmount = errors.New("want a decimal amount with at most 2 decimals")

// UnmarshalText parses a decimal amount: an optional minus sign, digits,
// and optionally a point and one or two more digits.
func (c *Cents) UnmarshalText(b []byte) error {
	s := b
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	var units, frac int64
	digits := 0
	for len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		if digits++; digits > 15 {
			return errAmount
		}
		units = units*10 + int64(s[0]-'0')
		s = s[1:]
	}
	if digits == 0 {
		return errAmount
	}
	if len(s) > 0 {
		if s[0] != '.' || len(s) < 2 || len(s) > 3 {
			return errAmount
		}
		for i, d := range s[1:] {
			if d < '0' || d > '9' {
				return errAmount
			}
			frac += int64(d-'0') * [2]int64{10, 1}[i]
		}
	}
	v := units*100 + frac
	if neg {
		v = -v
	}
	*c = Cents(v)
	return nil
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (c Cents) MarshalJSON() ([]byte, error) { return c.append(nil), nil }

// UnmarshalJSON reads a JSON number with at most two decimals; null leaves
// the amount as it is, as for any JSON value.
func (c *Cents) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	return c.UnmarshalText(b)
}

// regions is the lookup table of enrich, and the list of the countries
// validate accepts.
var regions = map[string]string{
	"US": "NA", "CA": "NA",
	"MX": "LATAM", "BR": "LATAM", "AR": "LATAM", "CL": "LATAM",
	"GB": "EMEA", "DE": "EMEA", "FR": "EMEA", "ES": "EMEA", "IT": "EMEA", "NL": "EMEA",
	"PL": "EMEA", "SE": "EMEA", "ZA": "EMEA", "NG": "EMEA", "AE": "EMEA",
	"JP": "APAC", "CN": "APAC", "IN": "APAC", "AU": "APAC", "SG": "APAC", "KR": "APAC",
}

// The generator's choices. countries lists regions' keys in a fixed order,
// so that the data depends on the seed only.
var (
	countries = []string{"US", "CA", "MX", "BR", "AR", "CL", "GB", "DE", "FR", "ES", "IT", "NL",
		"PL", "SE", "ZA", "NG", "AE", "JP", "CN", "IN", "AU", "SG", "KR"}
	products = []string{"widget", "gadget", "gizmo", "sprocket", "flange", "bracket", "valve", "doohickey"}
	epoch    = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

// The kinds of bad rows the generator writes, in turn: two that the CSV
// decoder rejects, three that validate rejects.
const (
	badQuantityText  = iota // quantity "n/a": does not decode
	badQuote                // a bare quote in the customer field: a malformed CSV row
	badZeroQuantity         // quantity 0
	badNegativePrice        // unit_price below zero
	badCountry              // a country code enrich does not know
	badKinds
)

// generate writes rows orders to path as CSV, drawn from seed. Of every
// block of every rows, one is bad (of each kind in turn) and one repeats
// the row before it, as a client sending an order twice would: the clean
// job dead-letters the first and drops the second. every must be at least
// 3. The file is written beside path and renamed over it at the end, so a
// generation cut short leaves no partial file.
func generate(path string, rows, every int, seed uint64) (err error) {
	if every < 3 {
		return fmt.Errorf("one bad row in every %d: want at least 3", every)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.WriteString(csvHeader + "\n")

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var line []byte // the last row written
	var id int64
	bad, dup := -1, -1 // positions in the current block
	for i := range rows {
		pos := i % every
		if pos == 0 {
			// The repeated row must follow a good row of the same block.
			dup = 1 + rng.IntN(every-1)
			for bad = rng.IntN(every); bad == dup || bad == dup-1; bad = rng.IntN(every) {
			}
		}
		if pos == dup {
			w.Write(line) // the row before, again
			w.WriteByte('\n')
			continue
		}
		id++
		customer := "C" + strconv.Itoa(10000+rng.IntN(5000))
		country := countries[rng.IntN(len(countries))]
		product := products[rng.IntN(len(products))]
		quantity := strconv.Itoa(1 + rng.IntN(20))
		price := Cents(50 + rng.IntN(49950)).String()
		created := epoch.Add(time.Duration(id)*30*time.Second + time.Duration(rng.IntN(30))*time.Second)
		if pos == bad {
			switch (i / every) % badKinds {
			case badQuantityText:
				quantity = "n/a"
			case badQuote:
				customer = customer[:2] + `"` + customer[2:]
			case badZeroQuantity:
				quantity = "0"
			case badNegativePrice:
				price = "-" + price
			case badCountry:
				country = "XX"
			}
		}
		line = appendRow(line[:0], id, customer, country, product, quantity, price, created)
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	return os.Rename(tmp.Name(), path)
}

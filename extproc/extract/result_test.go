package extract

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// chat wraps an assistant message content (a Go string) in a chat
// completion.
func chat(content string) []byte {
	c, _ := json.Marshal(content)
	return []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":` +
		string(c) + `}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
}

func TestResult(t *testing.T) {
	const want = `{"payer":"Alice","amount":12.50,"currency":"USD","item":"notebook"}`
	tests := []struct {
		name     string
		response []byte
		wantID   string
		want     string
		wantUse  string
	}{
		{name: "provider answer", response: readTestdata(t, "chat_valid.json"), wantID: "chatcmpl-abc123",
			want: want, wantUse: `{"prompt_tokens":120,"completion_tokens":24,"total_tokens":144}`},
		{name: "compact answer", response: chat(want), wantID: "chatcmpl-1", want: want,
			wantUse: `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`},
		{name: "json fence", response: chat("```json\n" + want + "\n```"), wantID: "chatcmpl-1", want: want,
			wantUse: `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`},
		{name: "bare fence, CRLF and white space around", response: chat(" \r\n```\r\n" + want + "\r\n```\n\n"), wantID: "chatcmpl-1", want: want,
			wantUse: `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`},
		{name: "JSON fence in capitals", response: chat("```JSON\n" + want + "```"), wantID: "chatcmpl-1", want: want,
			wantUse: `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`},
		{name: "no usage, no id", response: []byte(`{"choices":[{"message":{"content":` + mustQuote(want) + `}}]}`), want: want},
		{name: "usage null", response: []byte(`{"choices":[{"message":{"content":` + mustQuote(want) + `}}],"usage":null}`), want: want},
		{name: "exact decimals survive", response: chat(`{"payer":"A","amount":0.1000000000000000055511151231257827,"currency":"EUR"}`),
			wantID: "chatcmpl-1", want: `{"payer":"A","amount":0.1000000000000000055511151231257827,"currency":"EUR"}`,
			wantUse: `{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`},
	}
	r := parseTestdata(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Result(tt.response)
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			if res.ID != tt.wantID || string(res.Output) != tt.want || string(res.Usage) != tt.wantUse {
				t.Errorf("got id %q output %s usage %s\nwant id %q output %s usage %s", res.ID, res.Output, res.Usage, tt.wantID, tt.want, tt.wantUse)
			}
		})
	}
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestResultInvalidOutput(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		wantErrors []string
		wantOutput string
	}{
		{
			name:    "provider answer",
			content: `{"amount": "12.50", "currency": "GBP", "note": "a <pen>"}`,
			wantErrors: []string{
				"/: additional properties 'note' not allowed",
				"/: missing property 'payer'",
				"/amount: got string, want number",
				"/currency: value must be one of 'USD', 'EUR'",
			},
			wantOutput: `{"amount":"12.50","currency":"GBP","note":"a <pen>"}`,
		},
		{
			name:       "below minimum",
			content:    `{"payer":"Alice","amount":-0.01,"currency":"USD"}`,
			wantErrors: []string{"/amount: minimum: got -0.01, want 0"},
			wantOutput: `{"payer":"Alice","amount":-0.01,"currency":"USD"}`,
		},
		{
			name:       "array instead of object",
			content:    `[1, 2]`,
			wantErrors: []string{"/: got array, want object"},
			wantOutput: `[1,2]`,
		},
		{
			name:       "prose around the JSON",
			content:    `Sure! {"payer":"Alice"}`,
			wantErrors: []string{"/: output is not valid JSON"},
			wantOutput: `"Sure! {\"payer\":\"Alice\"}"`,
		},
		{
			name:       "fence of another language",
			content:    "```python\n{}\n```",
			wantErrors: []string{"/: output is not valid JSON"},
			wantOutput: `"` + "```python\\n{}\\n```" + `"`,
		},
		{
			name:       "unclosed fence",
			content:    "```json\n{}",
			wantErrors: []string{"/: output is not valid JSON"},
			wantOutput: `"` + "```json\\n{}" + `"`,
		},
		{
			name:       "truncated answer",
			content:    `{"payer":"Al`,
			wantErrors: []string{"/: output is not valid JSON"},
			wantOutput: `"{\"payer\":\"Al"`,
		},
		{
			name:       "huge exponent",
			content:    `{"payer":"A","amount":1e99999,"currency":"USD"}`,
			wantErrors: []string{"/: output has a number with an exponent beyond ±1000"},
			wantOutput: `{"payer":"A","amount":1e99999,"currency":"USD"}`,
		},
		{
			name:       "nested too deep",
			content:    strings.Repeat("[", 257) + strings.Repeat("]", 257),
			wantErrors: []string{"/: output is nested more than 256 levels deep"},
			wantOutput: strings.Repeat("[", 257) + strings.Repeat("]", 257),
		},
	}
	r := parseTestdata(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Result(chat(tt.content))
			var inv *InvalidOutputError
			if !errors.As(err, &inv) {
				t.Fatalf("Result = %+v, %v; want *InvalidOutputError", res, err)
			}
			if strings.Join(inv.Errors, "\n") != strings.Join(tt.wantErrors, "\n") {
				t.Errorf("errors\n got %q\nwant %q", inv.Errors, tt.wantErrors)
			}
			if string(inv.Output) != tt.wantOutput {
				t.Errorf("output\n got %s\nwant %s", inv.Output, tt.wantOutput)
			}
		})
	}
}

func TestResultErrorCap(t *testing.T) {
	r, err := ParseRequest(body(mModel, mInput, `"schema":{"type":"array","items":{"type":"integer"}}`), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]string, 30)
	for i := range items {
		items[i] = `"x"`
	}
	_, err = r.Result(chat("[" + strings.Join(items, ",") + "]"))
	var inv *InvalidOutputError
	if !errors.As(err, &inv) {
		t.Fatalf("Result: %v", err)
	}
	// In index order, and the first 20 of them.
	if len(inv.Errors) != 21 || inv.Errors[0] != "/0: got string, want integer" || inv.Errors[1] != "/1: got string, want integer" ||
		inv.Errors[19] != "/19: got string, want integer" || inv.Errors[20] != "(and 10 more errors)" {
		t.Errorf("errors %q", inv.Errors)
	}
	if want := "extraction output does not match the schema: /0: got string, want integer (and 29 more)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestResultNoContent(t *testing.T) {
	tests := []struct {
		name     string
		response string
		wantErr  string
	}{
		{name: "not JSON", response: `<html>502</html>`, wantErr: "chat response has no usable content: not a chat completion"},
		{name: "an error object", response: `{"error":{"message":"overloaded"}}`, wantErr: "chat response has no usable content: no choices"},
		{name: "no choices", response: `{"id":"c","choices":[]}`, wantErr: "chat response has no usable content: no choices"},
		{name: "choices not an array", response: `{"choices":{}}`, wantErr: "chat response has no usable content: not a chat completion"},
		{name: "refusal", response: `{"choices":[{"message":{"content":null,"refusal":"I can't help with that."}}]}`,
			wantErr: "chat response has no usable content: the model refused"},
		{name: "content null", response: `{"choices":[{"message":{"content":null}}]}`, wantErr: "chat response has no usable content: message content is not a string"},
		{name: "no message", response: `{"choices":[{"finish_reason":"length"}]}`, wantErr: "chat response has no usable content: message content is not a string"},
		{name: "content parts", response: `{"choices":[{"message":{"content":[{"type":"text","text":"{}"}]}}]}`,
			wantErr: "chat response has no usable content: message content is not a string"},
		{name: "content empty", response: `{"choices":[{"message":{"content":""}}]}`, wantErr: "chat response has no usable content: message content is empty"},
		{name: "content blank", response: `{"choices":[{"message":{"content":" \n "}}]}`, wantErr: "chat response has no usable content: message content is empty"},
	}
	r := parseTestdata(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Result([]byte(tt.response))
			if !errors.Is(err, ErrNoContent) {
				t.Fatalf("Result = %+v, %v; want ErrNoContent", res, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.wantErr)
			}
		})
	}
}

func TestResultBody(t *testing.T) {
	r := parseTestdata(t)
	res, err := r.Result(readTestdata(t, "chat_valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "result.golden.json", res.Body("cpen/middle", "0.00001056", readTestdata(t, "route.json")))
}

func TestInvalidOutputBody(t *testing.T) {
	r := parseTestdata(t)
	_, err := r.Result(readTestdata(t, "chat_invalid.json"))
	var inv *InvalidOutputError
	if !errors.As(err, &inv) {
		t.Fatalf("Result: %v", err)
	}
	checkGolden(t, "invalid_output.golden.json", inv.Body("cpen/middle", "0.00001056", readTestdata(t, "route.json"), "invalid_request_error", "invalid_output"))
}

func TestInvalidOutputBodyNotJSON(t *testing.T) {
	r := parseTestdata(t)
	_, err := r.Result(chat("I could not find a payer.\n\u2028\x01"))
	var inv *InvalidOutputError
	if !errors.As(err, &inv) {
		t.Fatalf("Result: %v", err)
	}
	checkGolden(t, "invalid_output_not_json.golden.json", inv.Body("cpen/middle", "0.00001056", []byte(`{"task":"extraction"}`), "invalid_request_error", "invalid_output"))
}

// Bodies stay valid JSON whatever the strings hold, and a missing route or
// usage renders as null.
func TestBodyEscaping(t *testing.T) {
	res := &Result{ID: "a\"b\\c\x00\xff\u2028", Output: json.RawMessage(`{}`)}
	got := res.Body("cpen/\"middle\"\n", "0", nil)
	// encoding/json escapes U+2028, which JavaScript string literals
	// cannot hold raw.
	want := `{"id":"a\"b\\c\u0000\ufffd\u2028","object":"extraction","model":"cpen/\"middle\"\n","output":{},"usage":null,"cpen_status":"completed","cpen_cost_usd":"0","cpen_route":null}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	if v["id"] != "a\"b\\c\x00\ufffd\u2028" {
		t.Errorf("id decodes to %q", v["id"])
	}
}

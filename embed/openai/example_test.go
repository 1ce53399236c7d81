package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/openai"
)

// fakeOpenAI stands in for an OpenAI-compatible server: it embeds a text as [its length,
// its number of words], and refuses texts over 40 bytes as "too long".
func fakeOpenAI() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		type datum struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []datum
		for i, in := range req.Input {
			if len(in) > 40 {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"message":"an input of %d bytes is too long","type":"invalid_request_error","param":"input","code":null}}`, len(in))
				return
			}
			data = append(data, datum{"embedding", i, []float32{float32(len(in)), float32(len(strings.Fields(in)))}})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
	}))
}

func ExampleNew() {
	// A local vLLM server serving BGE-M3, asked for 256 dimensions; no key needed.
	e, err := openai.New(
		openai.WithBaseURL("http://localhost:8000/v1"),
		openai.WithModel("BAAI/bge-m3"),
		openai.WithAPIKey(""),
		openai.WithDimensions(256),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name(), e.Dimension())

	_, err = openai.New(openai.WithBaseURL("localhost:8000"))
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	// Output:
	// openai:BAAI/bge-m3;dim=256 256
	// true
}

// An Azure OpenAI deployment: the URL names the deployment, the key goes in "api-key".
func ExampleNew_azure() {
	e, err := openai.New(
		openai.WithEndpoint("https://my-resource.openai.azure.com/openai/deployments/emb-small/embeddings?api-version=2024-10-21"),
		openai.WithAzureAPIKey("azure-key"),
		openai.WithModel("text-embedding-3-small"),
		openai.WithExpectedDimension(1536),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name(), e.Dimension())
	// Output: openai:text-embedding-3-small 1536
}

func ExampleEmbedder_Embed() {
	srv := fakeOpenAI()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL+"/v1"), openai.WithAPIKey(""))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"Ada prefers tea", "the cat is called Turing"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(vecs, e.Dimension())
	// Output: [[15 3] [24 5]] 2
}

// A text the server refuses fails alone; the others are embedded.
func ExampleEmbedder_Embed_rejectedText() {
	srv := fakeOpenAI()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{
		"short note",
		"a note far too long for this little server to take",
		"another note",
	})
	var failed embed.TextErrors
	if errors.As(err, &failed) {
		for i, why := range failed {
			fmt.Printf("text %d failed (retryable %v): %v\n", i, embed.IsRetryable(why), why)
		}
	}
	fmt.Println(vecs[0], vecs[1], vecs[2])
	// Output:
	// text 1 failed (retryable false): embed openai: HTTP 400: an input of 50 bytes is too long (type invalid_request_error, param input)
	// [10 2] [] [12 2]
}

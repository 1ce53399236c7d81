package ollama_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/ollama"
)

// fakeOllama stands in for an Ollama server with one model, "nomic-embed-text", which
// embeds a text as [its length, its number of words].
func fakeOllama() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != "nomic-embed-text" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("model %q not found, try pulling it first", req.Model)})
			return
		}
		var embs [][]float32
		for _, in := range req.Input {
			embs = append(embs, []float32{float32(len(in)), float32(len(strings.Fields(in)))})
		}
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": embs})
	}))
}

func ExampleNew() {
	e, err := ollama.New(
		ollama.WithBaseURL("http://gpu-box:11434"),
		ollama.WithModel("mxbai-embed-large"),
		ollama.WithKeepAlive(30*time.Minute),
		ollama.WithExpectedDimension(1024),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Name(), e.Dimension())
	// Output: ollama:mxbai-embed-large:latest 1024
}

func ExampleEmbedder_Embed() {
	srv := fakeOllama()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"Why is the sky blue?", "Why is the grass green?"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(vecs, e.Dimension())
	// Output: [[20 5] [23 5]] 2
}

// A model the server does not have fails the whole call, permanently.
func ExampleEmbedder_Embed_unknownModel() {
	srv := fakeOllama()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithModel("nomic-embed-tex"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = e.Embed(context.Background(), []string{"hello"})
	var ee *embed.Error
	if errors.As(err, &ee) {
		fmt.Println(ee.Status, ee.Retryable, ee.Msg)
	}
	// Output: 404 false model "nomic-embed-tex" not found, try pulling it first
}

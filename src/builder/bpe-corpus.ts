/**
 * The text the generated BPE tokenizers learn their merges from: plain English prose, a little
 * dialogue, numbers and code, written for edgetier. It only decides which byte pairs become tokens,
 * so small tokenizers split everyday text into fewer, more natural pieces than raw bytes.
 */
export const TRAINING_CORPUS = `
The small model runs in the browser, on the machine of the person who is reading the page. It does
not send the question to a server, and it does not wait for a network that may be slow or absent.
When the answer matters more than the speed, the person can ask the larger model behind the API and
compare the two answers side by side. The smaller one is often good enough, and it is always there.

Hello! How are you today? I am fine, thank you. What would you like to know about the weather, the
news, or the history of the city? Tell me more about the river that runs through the old town. The
river is long and wide; boats carry people and goods from the harbour to the market every morning.

Once upon a time there was a little cat who lived in a house at the end of a quiet street. Every day
the cat sat in the window and watched the birds in the garden. One day a bird flew into the house,
and the cat and the bird became friends. They played together until the sun went down.

A language model reads a sequence of tokens and predicts the next one. It learns the patterns of the
language from a large amount of text: which words follow which, how sentences are built, and what
people usually say in reply to a question. The model has layers of attention and feed-forward
networks, and each layer refines the representation of every token in the context.

Numbers and dates: 0 1 2 3 4 5 6 7 8 9 10 12 16 20 32 64 100 128 256 512 1024 2048 4096 2025 2026.
The meeting is on Monday at 10:30, and the report is due on the 1st of March. Prices rose by 3.5%.

function add(a, b) {
  return a + b;
}
const result = add(2, 3);
console.log("The result is", result);
for (let i = 0; i < 10; i++) {
  if (i % 2 === 0) console.log(i);
}
def greet(name):
    return f"Hello, {name}!"

import json
data = {"name": "edgetier", "version": 1, "models": ["small", "large"]}
print(json.dumps(data, indent=2))

Questions people ask: What is the capital of France? Paris is the capital of France. Why is the sky
blue? Because air scatters blue light more than red light. How many days are there in a week? There
are seven days in a week. Can you write a short poem about the sea? The sea is wide, the sea is deep,
it sings the sailors off to sleep. Please summarise this text in one sentence. Sure, here it is.

Good morning, everyone. Today we will learn how to cook a simple soup. First, cut the onions and the
carrots into small pieces. Then heat some oil in a pot, add the vegetables, and stir them for a few
minutes. Add water, salt and pepper, and let the soup cook for twenty minutes. Serve it hot with bread.

The user wrote a message and the assistant answered it. The system prompt tells the assistant what
kind of help to give. The conversation continues with another question, and then another answer.
`;

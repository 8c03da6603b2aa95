"""Static word embeddings: vocabulary, word vectors (queries and the word2vec file formats), and
intrinsic evaluation shared by word2vec, FastText and GloVe."""

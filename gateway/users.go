package gateway

// MinSecretLen is the shortest secret key accepted where one is created or
// given (AddUser, the root key on the command line): AWS's own are 40
// characters; 16 random ones are out of reach of guessing.
const MinSecretLen = 16

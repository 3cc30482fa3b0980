const x: number = 1; console.log("ts ok", x, process.version);

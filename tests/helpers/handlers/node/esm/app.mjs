export const handler = async (event, context) => {
  console.log("esm", context.awsRequestId.length);
  return { esm: "mjs" };
};
